// Package testlab is what esptun's namespace test suites (cmd/esptun's
// end-to-end tests, soak, interop) share to build their labs: namespaces
// removed when the test ends, veth links with addresses, a namespace's own
// resolv.conf, daemons stopped with SIGTERM at the end, polling a daemon
// until it answers, the esptun configurations of the road-warrior labs.
// Namespace helpers proper are in internal/netns.
//
// Functions return errors rather than fail the test themselves, so that
// each suite reports them its own way; what they register with t.Cleanup
// reports through the Report function it is given.
//
// Everything but Buffer and the road-warrior configurations (RWGateway,
// RWClient, WriteUsers) needs Linux.
package testlab
