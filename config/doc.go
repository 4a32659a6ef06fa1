// Package config turns esptun's TOML configuration, shaped like strongSwan's
// swanctl.conf, into validated structs. Every error names the file, the line
// and the key, says what is wrong and what is allowed; unknown keys are
// errors. It never touches the network.
package config
