package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/control"
	"github.com/esptun/esptun/ike"
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

// up builds the data path and the IKE daemon from cfg and runs them until a
// signal arrives. A configuration that cannot be built never starts half a
// tunnel: everything is set up before the first packet flows, and torn down
// on any failure.
func up(cfg *config.Config, log *slog.Logger) error {
	manual, err := tunnel.BuildManual(cfg)
	if err != nil {
		return cli.Exit("esptun: "+err.Error(), exitConfig)
	}
	var mgr atomic.Pointer[ike.Manager]
	policies := &spd.DB{}
	sas := sad.New(func(ev sad.Event) {
		if m := mgr.Load(); m != nil && !strings.HasPrefix(ev.SA.Name, "manual/") {
			m.HandleSAEvent(ev)
			return
		}
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
	routes, peers := manual.Routes, manual.Peers
	for _, conn := range cfg.Connections {
		for _, r := range conn.RemoteAddrs {
			if r.IsAddr() {
				peers = append(peers, r.Prefix.Addr())
			}
		}
		if len(conn.VIPs) > 0 {
			// A road-warrior client routes once it has its virtual IP.
			continue
		}
		for _, ch := range conn.Children {
			for _, s := range ch.RemoteTS.Selectors {
				routes = append(routes, s.Prefix.Masked())
			}
		}
	}
	// A gateway routes the addresses it hands out into the tunnel.
	for _, p := range cfg.Pools {
		routes = append(routes, p.Prefix.Masked())
	}
	if !cfg.Tun.InstallRoutes {
		routes = nil
	}
	opts := tunnel.Options{
		TunName:   cfg.Tun.Name,
		MTU:       cfg.Tun.MTU,
		Offload:   cfg.Tun.Offload,
		Addresses: cfg.Tun.Addresses,
		Routes:    dedupPrefixes(routes),
		Peers:     peers,
		Listen:    cfg.IKE.Listen,
		NATTPort:  cfg.IKE.NATTPort,
		RawESP:    manual.RawESP,
		Workers:   cfg.Daemon.Workers,
		// [daemon] scheduling = "normal" keeps the default policy.
		NormalScheduling: cfg.Daemon.Scheduling == "normal",
		Logger:           log,
		SPD:              policies,
		SAD:              sas,
	}
	if len(cfg.Connections) > 0 {
		opts.IKEPort = cfg.IKE.Port
		opts.IKE = func(pkt []byte, remote, local netip.AddrPort, natt, alone bool) {
			m := mgr.Load()
			switch {
			case m == nil:
			case alone:
				m.HandleDatagramNow(pkt, remote, local, natt)
			default:
				m.HandleDatagram(pkt, remote, local, natt)
			}
		}
		opts.Acquire = func(policyID uint32) {
			if m := mgr.Load(); m != nil {
				m.Acquire(policyID)
			}
		}
		opts.PeerMoved = func(sa *sad.SA, from netip.AddrPort) {
			if m := mgr.Load(); m != nil {
				m.PeerMoved(sa, from)
			}
		}
	}
	t, err := tunnel.New(opts)
	if err != nil {
		return cli.Exit("esptun: "+err.Error(), exitRuntime)
	}
	var m *ike.Manager
	vips := newVIPHost(cfg, t.Name(), log)
	vips.recover()
	defer vips.close()
	if len(cfg.Connections) > 0 {
		m, err = ike.New(ike.Options{Config: cfg, Transport: t, SPD: policies, SAD: sas, Logger: log, Flush: t.Flush,
			OnVirtualIP: vips.handle})
		if err != nil {
			t.Close()
			return cli.Exit("esptun: "+err.Error(), exitConfig)
		}
		mgr.Store(m)
	}
	srv, err := control.Listen(cfg.Daemon.ControlSocket, func(ctx context.Context, req control.Request) (any, error) {
		return handleControl(ctx, req, t, m)
	}, log)
	if err != nil {
		t.Close()
		return cli.Exit("esptun: "+err.Error(), exitRuntime)
	}
	if m != nil {
		m.Start()
	}
	stopMem := make(chan struct{})
	defer close(stopMem)
	startMemoryPolicy(log, stopMem, policies.Compact)
	log.Info("esptun up", "version", version, "config", cfg.File, "tun", t.Name(), "control_socket", cfg.Daemon.ControlSocket,
		"manual_sas", len(manual.SAs), "connections", len(cfg.Connections))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	log.Info("shutting down", "signal", s.String())
	signal.Stop(sig)
	srv.Close()
	if m != nil {
		// RFC 7296 1.4.1: tell the peers, but do not wait for long.
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		m.Close(ctx)
		cancel()
	}
	if err := t.Close(); err != nil {
		log.Warn("closing the TUN device", "err", err)
	}
	log.Info("esptun stopped")
	return nil
}

func dedupPrefixes(in []netip.Prefix) []netip.Prefix {
	seen := map[netip.Prefix]bool{}
	var out []netip.Prefix
	for _, p := range in {
		p = p.Masked()
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// handleControl answers one control request.
func handleControl(ctx context.Context, req control.Request, t *tunnel.Tunnel, m *ike.Manager) (any, error) {
	if req.Cmd == "stats" {
		return handleStats(t, m), nil
	}
	if req.Cmd == "status" {
		st := t.Status(version)
		if m != nil {
			sas, counters := m.Status()
			st.IKESAs = sas
			st.IKE = &counters
		}
		if st.IKESAs == nil {
			st.IKESAs = []control.IKESA{}
		}
		return st, nil
	}
	if m == nil {
		return nil, fmt.Errorf("%s: this configuration has no [connections]", req.Cmd)
	}
	child, ikeName := req.Args["child"], req.Args["ike"]
	switch req.Cmd {
	case "initiate":
		if child != "" {
			return nil, m.Initiate(ctx, child)
		}
		if ikeName != "" {
			return nil, m.InitiateIKE(ctx, ikeName)
		}
	case "terminate":
		if child != "" {
			return nil, m.TerminateChild(ctx, child)
		}
		if ikeName != "" {
			return nil, m.Terminate(ctx, ikeName)
		}
	case "rekey":
		if child != "" {
			return nil, m.RekeyChild(ctx, child)
		}
		if ikeName != "" {
			return nil, m.RekeyIKE(ctx, ikeName)
		}
	default:
		return nil, fmt.Errorf("unknown command %q", req.Cmd)
	}
	return nil, fmt.Errorf("%s needs --child or --ike", req.Cmd)
}
