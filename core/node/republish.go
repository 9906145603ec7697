package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ipfs/go-cid"
	dht "github.com/libp2p/go-libp2p-kad-dht"

	"github.com/netabase/netabase/core/envelope"
)

// RepublishResult says what Republish sent.
type RepublishResult struct {
	// Records is how many of the node's own records it put again.
	Records int
	// Providers is how many provider records it renewed and announced again.
	Providers int
}

// Republish puts the node's own netabase records to the peers closest to
// their keys again, and renews and re-announces its provider records, so
// that peers that joined since hold them and nothing expires while the node
// runs. The node calls it every records.republish_interval; it returns the
// errors of the records and keys that failed, after trying them all.
func (n *Node) Republish(ctx context.Context) (RepublishResult, error) {
	var res RepublishResult
	var errs []error
	type own struct {
		key   string
		value []byte
	}
	var records []own
	if n.prefix != dht.DefaultPrefix {
		for r, err := range n.LocalRecords(ctx, envelope.Namespace) {
			if err != nil {
				return res, err
			}
			if r.Envelope == nil {
				continue
			}
			if owner, _, err := envelope.ParseKey(r.Key); err == nil && owner == n.id {
				records = append(records, own{r.Key, r.Value})
			}
		}
	}
	var keys []cid.Cid
	for c, err := range n.ProvidedKeys(ctx) {
		if err != nil {
			return res, err
		}
		keys = append(keys, c)
	}
	for _, r := range records {
		if _, err := n.PutRecord(ctx, r.key, r.value); err != nil {
			errs = append(errs, fmt.Errorf("republishing %s: %w", r.key, err))
			continue
		}
		res.Records++
	}
	for _, c := range keys {
		if _, err := n.StartProviding(ctx, c.String()); err != nil {
			errs = append(errs, fmt.Errorf("re-announcing %s: %w", c, err))
			continue
		}
		res.Providers++
	}
	return res, errors.Join(errs...)
}

func (n *Node) republishLoop(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		res, err := n.Republish(n.ctx)
		if n.ctx.Err() != nil {
			return
		}
		if err != nil {
			n.log.Warn("republishing failed for some records", "error", err)
		}
		n.log.Debug("republished", "records", res.Records, "providers", res.Providers)
	}
}
