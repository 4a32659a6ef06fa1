package netns

import (
	"encoding/binary"
	"os"
	"time"
)

// linktypeRaw is LINKTYPE_RAW: each record is an IPv4 or IPv6 packet.
const linktypeRaw = 101

// WritePcap writes pkts (IP packets, as Capture records them) to path in
// the classic libpcap format, readable by tcpdump and tshark.
func WritePcap(path string, pkts [][]byte) error {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint32(b, 0) // thiszone
	b = binary.LittleEndian.AppendUint32(b, 0) // sigfigs
	b = binary.LittleEndian.AppendUint32(b, 1<<16+512)
	b = binary.LittleEndian.AppendUint32(b, linktypeRaw)
	now := time.Now()
	for i, p := range pkts {
		ts := now.Add(time.Duration(i) * time.Millisecond)
		b = binary.LittleEndian.AppendUint32(b, uint32(ts.Unix()))
		b = binary.LittleEndian.AppendUint32(b, uint32(ts.Nanosecond()/1000))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return os.WriteFile(path, b, 0o644)
}
