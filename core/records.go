package core

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"github.com/multiformats/go-base32"
	"google.golang.org/protobuf/encoding/protowire"
)

// providersNamespace is the record namespace go-libp2p-kad-dht reserves for
// provider records; a value record in it is filed under its base32 name.
const providersNamespace = "providers"

// Record is a DHT value record as a node stores it.
type Record struct {
	// Key is the record key, "/<namespace>/<rest>", such as
	// "/netabase/<peer ID>/<name>". It may hold any bytes.
	Key string
	// Value is the record's value, opaque to the store.
	Value []byte
	// Received is when this node stored the record.
	Received time.Time
}

// RecordStore keeps DHT value records in a datastore, laid out exactly as
// go-libp2p-kad-dht v0.42's records.ValueStore lays them out: under
// "/<namespace>/<base32 of the whole key>", as a libp2p record protobuf
// stamped with its receive time. A node handing the same datastore to the
// DHT (dht.ValueDatastore) sees the DHT's records here and the DHT sees
// these. RecordStore does not validate values: the DHT's validators run on
// the network path.
type RecordStore struct {
	d ds.Datastore
}

// NewRecordStore returns a RecordStore over d.
func NewRecordStore(d ds.Datastore) *RecordStore {
	return &RecordStore{d: d}
}

// RecordKey returns the datastore key under which the record key is stored.
func RecordKey(key string) ds.Key {
	ns := recordNamespace(key)
	if ns == providersNamespace {
		ns = base32.RawStdEncoding.EncodeToString([]byte(ns))
	}
	return ds.NewKey("/" + ns + "/" + base32.RawStdEncoding.EncodeToString([]byte(key)))
}

// recordNamespace returns the namespace of a record key, the text between
// its first two slashes. It is empty for a key without one; such a record
// is filed at the root, as the DHT files it.
func recordNamespace(key string) string {
	rest, ok := strings.CutPrefix(key, "/")
	if !ok {
		return ""
	}
	ns, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return ns
}

func checkRecordKey(key string) error {
	if recordNamespace(key) == "" {
		return fmt.Errorf("%w: record key %q has no namespace; record keys look like /<namespace>/<name>", ErrInvalidKey, key)
	}
	return nil
}

// Put stores rec, replacing any record under the same key. A zero Received
// is stamped with the current time; one outside the years 0000 to 9999 (in
// UTC), which the record's RFC 3339 time stamp cannot hold, is refused.
func (s *RecordStore) Put(ctx context.Context, rec Record) error {
	if err := checkRecordKey(rec.Key); err != nil {
		return err
	}
	if rec.Received.IsZero() {
		rec.Received = time.Now()
	}
	if err := checkReceived(rec.Received); err != nil {
		return fmt.Errorf("%w: record %q: %v", ErrRejected, rec.Key, err)
	}
	return s.d.Put(ctx, RecordKey(rec.Key), encodeRecord(rec))
}

// checkReceived reports whether t can be written as a record's receive time
// and read back.
func checkReceived(t time.Time) error {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("receive time %v is outside the years 0000 to 9999 that RFC 3339 can write", t)
	}
	return nil
}

// Get returns the record stored under key, or an error wrapping ErrNotFound.
func (s *RecordStore) Get(ctx context.Context, key string) (Record, error) {
	if err := checkRecordKey(key); err != nil {
		return Record{}, err
	}
	buf, err := s.d.Get(ctx, RecordKey(key))
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Record{}, fmt.Errorf("record %q: %w", key, ErrNotFound)
		}
		return Record{}, err
	}
	rec, err := decodeRecord(buf)
	if err != nil {
		return Record{}, fmt.Errorf("record %q: the stored bytes are damaged: %w", key, err)
	}
	if rec.Key != key {
		return Record{}, fmt.Errorf("record %q: the stored record names another key, %q", key, rec.Key)
	}
	return rec, nil
}

// Remove deletes the record stored under key. Removing a missing record is
// not an error.
func (s *RecordStore) Remove(ctx context.Context, key string) error {
	if err := checkRecordKey(key); err != nil {
		return err
	}
	return s.d.Delete(ctx, RecordKey(key))
}

// Records yields every stored record in the given namespace ("netabase"
// for "/netabase/..." keys), or in every namespace when namespace is empty.
// Entries that are not well-formed records filed under their own key are
// skipped: the datastore may hold other data.
func (s *RecordStore) Records(ctx context.Context, namespace string) iter.Seq2[Record, error] {
	q := dsq.Query{}
	if namespace != "" {
		q.Prefix = RecordKey("/" + namespace + "/x").Parent().String()
	}
	return func(yield func(Record, error) bool) {
		for e, err := range ds.QueryIter(ctx, s.d, q) {
			if err != nil {
				yield(Record{}, err)
				return
			}
			if strings.HasPrefix(e.Key, "/"+providersNamespace+"/") {
				continue
			}
			rec, err := decodeRecord(e.Value)
			if err != nil || RecordKey(rec.Key).String() != e.Key {
				continue
			}
			if namespace != "" && recordNamespace(rec.Key) != namespace {
				continue
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// The libp2p record protobuf (github.com/libp2p/go-libp2p-record/pb):
// key = 1 (bytes), value = 2 (bytes), timeReceived = 5 (string, RFC 3339
// with nanoseconds, UTC).
const (
	recordFieldKey      = 1
	recordFieldValue    = 2
	recordFieldReceived = 5
)

func encodeRecord(rec Record) []byte {
	var stamp [len(time.RFC3339Nano) + 8]byte
	received := rec.Received.UTC().AppendFormat(stamp[:0], time.RFC3339Nano)
	n := protowire.SizeTag(recordFieldKey) + protowire.SizeBytes(len(rec.Key)) +
		protowire.SizeTag(recordFieldValue) + protowire.SizeBytes(len(rec.Value)) +
		protowire.SizeTag(recordFieldReceived) + protowire.SizeBytes(len(received))
	b := make([]byte, 0, n)
	b = protowire.AppendTag(b, recordFieldKey, protowire.BytesType)
	b = protowire.AppendString(b, rec.Key)
	b = protowire.AppendTag(b, recordFieldValue, protowire.BytesType)
	b = protowire.AppendBytes(b, rec.Value)
	b = protowire.AppendTag(b, recordFieldReceived, protowire.BytesType)
	b = protowire.AppendBytes(b, received)
	return b
}

func decodeRecord(b []byte) (Record, error) {
	var rec Record
	var received string
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return Record{}, protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return Record{}, protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return Record{}, protowire.ParseError(n)
		}
		b = b[n:]
		switch num {
		case recordFieldKey:
			rec.Key = string(v)
		case recordFieldValue:
			rec.Value = v
		case recordFieldReceived:
			received = string(v)
		}
	}
	if received != "" {
		t, err := time.Parse(time.RFC3339Nano, received)
		if err != nil {
			return Record{}, fmt.Errorf("bad receive time %q", received)
		}
		rec.Received = t
	}
	return rec, nil
}
