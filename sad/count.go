package sad

// Count returns how many SAs are installed in each direction (replaced
// outbound SAs not yet deleted count as outbound), without locks and
// without listing them.
func (db *DB) Count() (in, out int) {
	db.in.each(func(*SA) { in++ })
	db.out.each(func(*SA) { out++ })
	out += len(db.retiredList())
	return in, out
}
