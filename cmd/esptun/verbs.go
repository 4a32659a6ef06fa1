package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/esptun/esptun/control"
)

// saVerb makes initiate, terminate and rekey: swanctl's verbs, sent to the
// running daemon, which answers when the exchange is done.
func saVerb(name, usage string) *cli.Command {
	return &cli.Command{
		Name:  name,
		Usage: usage,
		Flags: []cli.Flag{
			socketFlag(),
			&cli.StringFlag{Name: "child", Usage: "Child SA configuration (CHILD or CONNECTION/CHILD)"},
			&cli.StringFlag{Name: "ike", Usage: "IKE SA (connection name)"},
			&cli.DurationFlag{Name: "timeout", Aliases: []string{"t"}, Value: 30 * time.Second, Usage: "how long to wait for the peer"},
		},
		Action: func(c *cli.Context) error {
			child, ike := c.String("child"), c.String("ike")
			if (child == "") == (ike == "") {
				return cli.Exit("esptun "+name+": give exactly one of --child or --ike", exitConfig)
			}
			args := map[string]string{"timeout": c.Duration("timeout").String()}
			if child != "" {
				args["child"] = child
			} else {
				args["ike"] = ike
			}
			if err := control.CallTimeout(c.String("socket"), control.Request{Cmd: name, Args: args}, nil, c.Duration("timeout")); err != nil {
				return cli.Exit("esptun "+name+": "+err.Error(), exitRuntime)
			}
			fmt.Fprintf(c.App.Writer, "%s %s: ok\n", name, child+ike)
			return nil
		},
	}
}
