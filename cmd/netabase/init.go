package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/spf13/cobra"

	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/node"
)

type initOptions struct {
	nodeFlags
	json bool
}

func newInitCmd(e *env) *cobra.Command {
	var opts initOptions
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a node: its configuration file and identity key",
		Long: `Create a node in the data directory: write config.toml with every key at its
default (or as the flags set it), and generate the node's identity key,
identity.key, which gives the node its peer ID for good. netabase daemon
does this by itself on first start when there is no configuration yet.
init prints the node's peer ID and the addresses other nodes can join it
through once it runs (netabase daemon --bootstrap <address>): its TCP
listen addresses on this machine's interfaces, ending in /p2p/<peer ID>; a
port chosen at start (/tcp/0) is known only then, and the daemon prints it.

The configuration keys (the file written gives each with its comment):
` + indent(config.Keys(), "  ") + `
Examples:
  netabase init
  netabase init --data-dir /tmp/n2 --listen /ip4/127.0.0.1/tcp/4102 \
      --bootstrap /ip4/127.0.0.1/tcp/4101/p2p/12D3KooW...` + exitStatusHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.note(cmd)
			return runInit(cmd.Context(), e, opts)
		},
	}
	opts.register(cmd)
	cmd.Flags().BoolVar(&opts.json, "json", false, "print what was created as JSON")
	return cmd
}

// indent puts prefix before each line of text that is not empty.
func indent(text, prefix string) string {
	var b strings.Builder
	for line := range strings.Lines(text) {
		if line != "\n" {
			b.WriteString(prefix)
		}
		b.WriteString(line)
	}
	return b.String()
}

type initResult struct {
	DataDir     string `json:"data_dir"`
	Config      string `json:"config"`
	Identity    string `json:"identity"`
	NewIdentity bool   `json:"new_identity"`
	PeerID      string `json:"peer_id"`
	Storage     string `json:"storage"`
	// Addrs are the addresses other nodes can bootstrap from.
	Addrs []string `json:"addrs"`
}

func runInit(ctx context.Context, e *env, opts initOptions) error {
	dir, err := dataDir(e)
	if err != nil {
		return err
	}
	if ok, err := configExists(dir); err != nil {
		return err
	} else if ok {
		return failed(fmt.Errorf("%s already holds a node (its configuration is %s); edit that file, or choose another --data-dir",
			dir, filepath.Join(dir, config.FileName)))
	}
	c := config.Default(dir)
	if err := opts.apply(&c); err != nil {
		return err
	}
	if opts.given["storage"] {
		if err := checkStorage(ctx, e, dir, c.Storage, true); err != nil {
			return err
		}
	}
	unlock, err := takeDataDir(dir)
	if err != nil {
		return err
	}
	defer unlock()
	res, err := initNode(dir, c, nil)
	if err != nil {
		return failed(err)
	}
	if opts.json {
		return writeJSON(e, res)
	}
	return printInit(e, res)
}

// initNode writes the configuration file and the identity key (keeping a
// key already there), recording in fresh, when not nil, what it created.
func initNode(dir string, c config.Config, fresh *freshNode) (initResult, error) {
	if err := writeConfig(dir, c); err != nil {
		return initResult{}, err
	}
	fresh.made(config.FileName)
	key, created, err := node.LoadIdentity(dir, true)
	if created {
		fresh.made(node.IdentityFile)
	}
	if err != nil {
		return initResult{}, err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return initResult{}, err
	}
	return initResult{
		DataDir:     dir,
		Config:      filepath.Join(dir, config.FileName),
		Identity:    filepath.Join(dir, node.IdentityFile),
		NewIdentity: created,
		PeerID:      id.String(),
		Storage:     c.Storage,
		Addrs:       bootstrapAddrs(c, id),
	}, nil
}

// bootstrapAddrs returns the addresses other nodes can give --bootstrap to
// join the node of c, whose peer ID is id: its TCP listen addresses (all
// of them when none is TCP), an unspecified IP (0.0.0.0, ::) replaced by
// this machine's (loopback only when it has no other), each ending in
// /p2p/<id>. A port chosen at start (0) gives none.
func bootstrapAddrs(c config.Config, id peer.ID) []string {
	nc, err := c.NodeConfig()
	if err != nil {
		return nil
	}
	listen := nc.Listen
	if tcp := slices.DeleteFunc(slices.Clone(listen), func(a ma.Multiaddr) bool {
		_, err := a.ValueForProtocol(ma.P_TCP)
		return err != nil
	}); len(tcp) > 0 {
		listen = tcp
	}
	ifaces, _ := manet.InterfaceMultiaddrs()
	ifaces = slices.DeleteFunc(ifaces, manet.IsIP6LinkLocal)
	var addrs, loopback []string
	for _, a := range listen {
		if port, err := a.ValueForProtocol(ma.P_TCP); err == nil && port == "0" {
			continue
		}
		if port, err := a.ValueForProtocol(ma.P_UDP); err == nil && port == "0" {
			continue
		}
		resolved, err := manet.ResolveUnspecifiedAddress(a, ifaces)
		if err != nil {
			continue
		}
		for _, r := range resolved {
			s := r.String() + "/p2p/" + id.String()
			if manet.IsIPUnspecified(a) && manet.IsIPLoopback(r) {
				loopback = append(loopback, s)
				continue
			}
			addrs = append(addrs, s)
		}
	}
	if len(addrs) == 0 {
		return loopback
	}
	return addrs
}

func printInit(e *env, r initResult) error {
	key := "generated"
	if !r.NewIdentity {
		key = "kept the one already there"
	}
	if err := printf(e, "Initialised a netabase node in %s\n  configuration  %s\n  identity key   %s (%s)\n  peer ID        %s\n  storage        %s\n",
		r.DataDir, r.Config, r.Identity, key, r.PeerID, r.Storage); err != nil {
		return err
	}
	for i, a := range r.Addrs {
		label := "addresses"
		if i > 0 {
			label = ""
		}
		if err := printf(e, "  %-13s  %s\n", label, a); err != nil {
			return err
		}
	}
	if len(r.Addrs) == 0 {
		return say(e, "Start it with: netabase daemon%s\nIt listens on a port chosen at start: the daemon prints its addresses, for other nodes to join it with --bootstrap <address>.\n", dataDirArg(e))
	}
	return say(e, "Start it with: netabase daemon%s\nOther nodes join it with: netabase daemon --bootstrap %s\n", dataDirArg(e), r.Addrs[0])
}

// dataDirArg repeats the --data-dir flag for a command to suggest.
func dataDirArg(e *env) string {
	if e.dataDir == "" {
		return ""
	}
	return " --data-dir " + e.dataDir
}
