// Package netns is the test harness that builds small networks of Linux
// network namespaces joined by veth pairs, so that esptun's end-to-end tests
// and benchmarks can run two gateways on one machine.
//
// It shells out to iproute2's ip(8) for setup and teardown (tests may; the
// daemon itself never does) and enters a namespace in-process with setns(2)
// on a locked OS thread for sockets that must live inside it (Do).
//
// Everything here needs root, /dev/net/tun and Linux; on other systems every
// constructor returns ErrUnsupported so that the packages that import it
// still build.
package netns

import "errors"

// ErrUnsupported is returned where network namespaces do not exist.
var ErrUnsupported = errors.New("netns: network namespaces need Linux")
