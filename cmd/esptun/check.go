package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/esptun/esptun/config"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "validate a configuration file",
		Flags: []cli.Flag{configFlag()},
		Action: func(c *cli.Context) error {
			cfg, err := config.Load(c.String("config"))
			if err != nil {
				return cli.Exit(err.Error(), exitConfig)
			}
			for _, w := range cfg.Warnings() {
				fmt.Fprintln(c.App.ErrWriter, "warning:", w)
			}
			fmt.Fprintf(c.App.Writer, "%s: ok\n", cfg.File)
			return nil
		},
	}
}
