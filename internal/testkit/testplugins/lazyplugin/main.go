// Command lazyplugin is a netabase storage plugin that declares durable
// and is not: it keeps its data in memory and writes it to its file only
// when its store is closed, and its Sync (go-datastore's map store's) does
// nothing. It keeps its data across Close and reopen, so it is persistent,
// but a crash loses everything written since the store was opened, synced
// or not. The conformance suite's durable case must refuse it.
package main

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"io/fs"
	"os"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"

	"github.com/netabase/netabase/plugins/sdk"
)

func main() {
	sdk.Serve(sdk.Config{
		Name:         "lazy",
		Version:      "test",
		Capabilities: sdk.Capabilities{Persistent: true, Durable: true},
		Options:      []sdk.Option{{Name: "path", Kind: sdk.Path, Required: true, Doc: "the file the data is written to at Close"}},
		Open: func(ctx context.Context, o *sdk.Options) (ds.Batching, error) {
			return open(ctx, o.Path("path"))
		},
	})
}

// lazy is the store: a map, and the file Close writes it to.
type lazy struct {
	*dssync.MutexDatastore
	path string
}

func open(ctx context.Context, path string) (*lazy, error) {
	l := &lazy{MutexDatastore: dssync.MutexWrap(ds.NewMapDatastore()), path: path}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, err
	}
	var kept map[string][]byte
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&kept); err != nil {
		return nil, err
	}
	for k, v := range kept {
		if err := l.Put(ctx, ds.RawKey(k), v); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Close writes the data to the file, replacing it whole.
func (l *lazy) Close() error {
	res, err := l.Query(context.Background(), dsq.Query{})
	if err != nil {
		return err
	}
	entries, err := res.Rest()
	if err != nil {
		return err
	}
	kept := make(map[string][]byte, len(entries))
	for _, e := range entries {
		kept[e.Key] = e.Value
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(kept); err != nil {
		return err
	}
	tmp := l.path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, l.path)
}
