package gateway

import (
	"fmt"
	"slices"
	"testing"
)

// TestKeySet: adding never blocks however far the reader is behind, a key
// pending twice is taken once, in the order keys first changed, and a
// closed set signals until it has reported that it is, once it is empty.
func TestKeySet(t *testing.T) {
	var k keySet
	var want []string
	for i := range 5000 {
		key := fmt.Sprintf("/netabase/p/notes/%d", i%3000)
		k.add(key)
		if i < 3000 {
			want = append(want, key)
		}
	}
	select {
	case <-k.signal():
	default:
		t.Fatal("no signal while keys are pending")
	}
	keys, open := k.take()
	if !open || !slices.Equal(keys, want) {
		t.Fatalf("took %d keys (open %v), want the 3000 distinct ones in order", len(keys), open)
	}
	if keys, open := k.take(); len(keys) != 0 || !open {
		t.Errorf("a second take: %d keys, open %v", len(keys), open)
	}
	k.add("last")
	k.close()
	<-k.signal()
	if keys, open := k.take(); !slices.Equal(keys, []string{"last"}) || !open {
		t.Errorf("the last key: %q, open %v", keys, open)
	}
	select {
	case <-k.signal():
	default:
		t.Fatal("no signal from a closed set that has not reported it")
	}
	if _, open := k.take(); open {
		t.Error("a closed, empty set says it is open")
	}
}
