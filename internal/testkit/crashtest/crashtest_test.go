//go:build !(js && wasm)

package crashtest_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/internal/testkit/crashtest"
)

func TestMain(m *testing.M) {
	crashtest.Main(m, child)
}

// child writes n times (n is arg) through a gated store, a Put, a batch's
// commit and a Delete in turn, and acknowledges each write.
func child(p *crashtest.Parent, scenario, arg string) error {
	if scenario != "count" {
		return fmt.Errorf("no scenario %q", scenario)
	}
	n, err := strconv.Atoi(arg)
	if err != nil {
		return err
	}
	ctx := context.Background()
	d := crashtest.Gated(ds.NewMapDatastore(), p.Gate)
	for i := range n {
		k := ds.NewKey(strconv.Itoa(i))
		switch i % 3 {
		case 0:
			err = d.Put(ctx, k, []byte("v"))
		case 1:
			var b ds.Batch
			if b, err = d.Batch(ctx); err == nil {
				err = errors.Join(b.Put(ctx, k, []byte("v")), b.Commit(ctx))
			}
		case 2:
			err = d.Delete(ctx, k)
		}
		if err != nil {
			return err
		}
		p.Ack(i)
	}
	p.Done()
	return nil
}

// TestRunUntilWrite kills a child at each of its writes, and lets one
// with fewer writes finish: the kill comes before the k-th write, after
// the acknowledgements of all those before.
func TestRunUntilWrite(t *testing.T) {
	for k := 1; k <= 4; k++ {
		acks, killed := crashtest.RunUntilWrite(t, "count", "3", k)
		switch {
		case k <= 3 && (!killed || acks != k-1):
			t.Errorf("killed at write %d of 3: killed %v with %d acknowledgements; want killed with %d", k, killed, acks, k-1)
		case k > 3 && (killed || acks != 3):
			t.Errorf("asked to kill at write %d of 3: killed %v with %d acknowledgements; want finished with 3", k, killed, acks)
		}
	}
}
