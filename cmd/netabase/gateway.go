package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/gateway"
	"github.com/netabase/netabase/core/node"
)

// gatewayEndpoint is the daemon's read-only HTTP gateway ([gateway] in
// config.toml, --gateway): its listener, taken before the node starts so
// that a busy address stops the daemon at once, and its settings.
type gatewayEndpoint struct {
	l       net.Listener
	origins []string
	sync    bool
	srv     *http.Server
}

// listenGateway takes the address of g when the gateway is on, and
// returns nil when it is off.
func listenGateway(g config.Gateway, flag bool, dir string) (*gatewayEndpoint, error) {
	if !g.Enabled {
		return nil, nil
	}
	l, err := listenHTTP(g.Address, "the gateway", "gateway", flag, dir)
	if err != nil {
		return nil, err
	}
	return &gatewayEndpoint{l: l, origins: g.AllowedOrigins, sync: g.Sync}, nil
}

// url is the gateway's address, or "" when it is off.
func (g *gatewayEndpoint) url() string {
	if g == nil {
		return ""
	}
	return "http://" + g.l.Addr().String()
}

// banner describes the gateway for the daemon's banner, or is "" when it
// is off.
func (g *gatewayEndpoint) banner() string {
	switch {
	case g == nil:
		return ""
	case g.sync:
		return g.url() + " (reads; sync, which writes, at /v1/sync/<name>/ws)"
	}
	return g.url() + " (read-only)"
}

// serve starts serving n's gateway; a failure to serve later is written
// to stderr.
func (g *gatewayEndpoint) serve(n *node.Node, stderr io.Writer) {
	if g == nil {
		return
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	g.srv = &http.Server{
		Handler:           gateway.Handler(n, gateway.Options{AllowedOrigins: g.origins, Sync: g.sync, Logger: log}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    gateway.MaxURL + 8<<10,
	}
	go func() {
		if err := g.srv.Serve(g.l); !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(stderr, "netabase: the gateway stopped: %v\n", err)
		}
	}()
}

// close stops serving, and frees the address.
func (g *gatewayEndpoint) close() {
	if g == nil {
		return
	}
	if g.srv != nil {
		_ = g.srv.Close()
		return
	}
	_ = g.l.Close()
}
