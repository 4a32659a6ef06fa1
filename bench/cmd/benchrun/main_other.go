//go:build !linux

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "benchrun: needs Linux (network namespaces, /proc)")
	os.Exit(1)
}
