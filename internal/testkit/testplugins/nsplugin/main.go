// Command nsplugin is a netabase storage plugin that stands for one whose
// data lives on a server: its string option root names a directory that
// plays the server (the host cannot rewrite a string), and its namespace
// option ns names the store inside it, a pebble store in root/ns (as a
// table in a database). Destroy removes root/ns. Run under the file name
// "unlocated", it declares no ns option: nothing the host can rewrite
// locates its data, so the host must refuse to make scratch stores of it.
package main

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/backends/pebblestore"
	"github.com/netabase/netabase/plugins/sdk"
)

func main() { sdk.Serve(Config(filepath.Base(os.Args[0]) == "unlocated")) }

// Config describes the plugin; unlocated drops its namespace option.
func Config(unlocated bool) sdk.Config {
	cfg := sdk.Config{
		Name:         "ns-plugin",
		Version:      "test",
		Capabilities: sdk.Capabilities{Persistent: true, Durable: true},
		Options: []sdk.Option{
			{Name: "root", Kind: sdk.String, Required: true, Doc: "the directory that plays the server"},
			{Name: "ns", Kind: sdk.Namespace, Default: "live", Doc: "the store's name on the server"},
		},
		Open: func(ctx context.Context, o *sdk.Options) (ds.Batching, error) {
			dir, err := storeDir(o)
			if err != nil {
				return nil, err
			}
			return pebblestore.Driver().Open(ctx, &url.URL{Scheme: pebblestore.Scheme, Path: dir})
		},
		Destroy: func(_ context.Context, o *sdk.Options) error {
			dir, err := storeDir(o)
			if err != nil {
				return err
			}
			return os.RemoveAll(dir)
		},
	}
	if unlocated {
		cfg.Options, cfg.Destroy = cfg.Options[:1], nil
	}
	return cfg
}

func storeDir(o *sdk.Options) (string, error) {
	root := o.String("root")
	if !filepath.IsAbs(root) {
		return "", errors.New("root must be an absolute path")
	}
	ns := "live"
	if o.Has("ns") {
		ns = o.Namespace("ns")
	}
	return filepath.Join(root, ns), nil
}
