package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/control"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
	"github.com/esptun/esptun/tunnel"
)

func upCommand() *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "run the tunnel in the foreground until SIGINT or SIGTERM",
		Flags: []cli.Flag{configFlag()},
		Action: func(c *cli.Context) error {
			cfg, err := config.Load(c.String("config"))
			if err != nil {
				return cli.Exit(err.Error(), exitConfig)
			}
			log := newLogger(cfg.Daemon)
			for _, w := range cfg.Warnings() {
				log.Warn(w)
			}
			return up(cfg, log)
		},
	}
}

func newLogger(d config.Daemon) *slog.Logger {
	var level slog.Level
	switch d.LogLevel {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if d.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// up builds the data path from cfg and runs it until a signal arrives. A
// configuration that cannot be built never starts half a tunnel: everything
// is set up before the first packet flows, and torn down on any failure.
func up(cfg *config.Config, log *slog.Logger) error {
	manual, err := tunnel.BuildManual(cfg)
	if err != nil {
		return cli.Exit("esptun: "+err.Error(), exitConfig)
	}
	policies := &spd.DB{}
	sas := sad.New(func(ev sad.Event) {
		if ev.Hard {
			log.Warn("SA reached its hard lifetime and stopped", "sa", ev.SA.Name, "spi", fmt.Sprintf("0x%08x", ev.SA.SPI), "limit", ev.Why)
		} else {
			log.Warn("SA reached its soft lifetime; static SAs cannot be rekeyed", "sa", ev.SA.Name, "spi", fmt.Sprintf("0x%08x", ev.SA.SPI), "limit", ev.Why)
		}
	})
	if err := manual.Install(policies, sas); err != nil {
		return cli.Exit("esptun: "+err.Error(), exitConfig)
	}
	defer func() {
		// Wipe the keys of every SA on the way out.
		for _, sa := range sas.All() {
			sas.Delete(sa)
		}
	}()
	var routes []netip.Prefix
	if cfg.Tun.InstallRoutes {
		routes = manual.Routes
	}
	t, err := tunnel.New(tunnel.Options{
		TunName:   cfg.Tun.Name,
		MTU:       cfg.Tun.MTU,
		Offload:   cfg.Tun.Offload,
		Addresses: cfg.Tun.Addresses,
		Routes:    routes,
		Peers:     manual.Peers,
		Listen:    cfg.IKE.Listen,
		NATTPort:  cfg.IKE.NATTPort,
		RawESP:    manual.RawESP,
		Workers:   cfg.Daemon.Workers,
		Logger:    log,
		SPD:       policies,
		SAD:       sas,
	})
	if err != nil {
		return cli.Exit("esptun: "+err.Error(), exitRuntime)
	}
	srv, err := control.Listen(cfg.Daemon.ControlSocket, func(ctx context.Context, req control.Request) (any, error) {
		switch req.Cmd {
		case "status":
			return t.Status(version), nil
		}
		return nil, fmt.Errorf("unknown command %q", req.Cmd)
	}, log)
	if err != nil {
		t.Close()
		return cli.Exit("esptun: "+err.Error(), exitRuntime)
	}
	log.Info("esptun up", "version", version, "config", cfg.File, "tun", t.Name(), "control_socket", cfg.Daemon.ControlSocket,
		"policies", len(manual.Policies), "sas", len(manual.SAs))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	log.Info("shutting down", "signal", s.String())
	signal.Stop(sig)
	srv.Close()
	if err := t.Close(); err != nil {
		log.Warn("closing the TUN device", "err", err)
	}
	log.Info("esptun stopped")
	return nil
}
