// Command esptun is a userspace IPsec VPN: ESP over a TUN device, keyed by
// static SAs from a swanctl-shaped TOML configuration.
//
// Exit codes: 0 ok, 1 configuration or usage error, 2 runtime failure.

// EAP-TLS over TLS 1.2 derives the MSK with the TLS exporter (RFC 5216),
// which Go refuses without the Extended Master Secret extension (RFC 7627)
// unless told otherwise; strongSwan's TLS stack does not send it.
//
//go:debug tlsunsafeekm=1
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const defaultSocket = "/run/esptun/esptun.sock"

const (
	exitOK      = 0
	exitConfig  = 1
	exitRuntime = 2
)

func main() {
	os.Exit(run(os.Args))
}

func run(args []string) int {
	unknown := false
	app := &cli.App{
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(os.Stderr, "esptun: unknown command %q (see esptun --help)\n", name)
			unknown = true
		},
		Name:            "esptun",
		Usage:           "userspace IPsec (ESP over TUN, IKEv2-shaped configuration)",
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {},
		Commands: []*cli.Command{
			upCommand(),
			checkCommand(),
			statusCommand(),
			statsCommand(),
			saVerb("initiate", "bring up a Child SA (and its IKE SA) in the running daemon"),
			saVerb("terminate", "delete an IKE SA or Child SA in the running daemon"),
			saVerb("rekey", "rekey an IKE SA or Child SA in the running daemon"),
			{
				Name:  "version",
				Usage: "print the version",
				Action: func(c *cli.Context) error {
					fmt.Fprintln(c.App.Writer, "esptun", version)
					return nil
				},
			},
		},
	}
	err := app.Run(args)
	if unknown {
		return exitConfig
	}
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, msg)
		}
		return ec.ExitCode()
	}
	// Anything urfave/cli reports itself (unknown flag, missing argument)
	// is a usage error.
	fmt.Fprintln(os.Stderr, "esptun:", err)
	return exitConfig
}

func socketFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "socket",
		Aliases: []string{"s"},
		Value:   defaultSocket,
		Usage:   "control socket of the running daemon",
	}
}

func configFlag() cli.Flag {
	return &cli.StringFlag{
		Name:     "config",
		Aliases:  []string{"c"},
		Required: true,
		Usage:    "configuration file (TOML)",
	}
}
