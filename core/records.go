package core

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
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
	// reuse is true when d never keeps a caller's slice, so Put may encode
	// into a pooled buffer.
	reuse bool
}

// NewRecordStore returns a RecordStore over d.
func NewRecordStore(d ds.Datastore) *RecordStore {
	return &RecordStore{d: d, reuse: overBackend(d)}
}

// overBackend reports whether d is a Backend, or a chain of go-datastore
// wrappers (such as a namespace) over one. Every Backend has passed the
// conformance suite, which holds it to never keeping a caller's slice; a
// raw go-datastore MapDatastore does keep it.
func overBackend(d ds.Datastore) bool {
	for {
		if _, ok := d.(Backend); ok {
			return true
		}
		shim, ok := d.(ds.Shim)
		if !ok || len(shim.Children()) != 1 {
			return false
		}
		d = shim.Children()[0]
	}
}

// b32 is the base32 go-libp2p-kad-dht encodes datastore key segments with:
// the standard alphabet without padding.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// RecordKey returns the datastore key under which the record key is stored.
func RecordKey(key string) ds.Key {
	var buf [128]byte
	return ds.RawKey(string(appendRecordKey(buf[:0], key)))
}

// appendRecordKey appends to b the datastore key of the record key:
// "/<namespace>/<base32 of the whole key>", cleaned as ds.NewKey cleans it.
func appendRecordKey[K ~string | ~[]byte](b []byte, key K) []byte {
	switch ns := string(recordNamespace(key)); ns {
	case "", ".", "..":
		// Cleaning changes such a key; these are rare enough to pay for it.
		return append(b, ds.NewKey("/"+ns+"/"+b32.EncodeToString([]byte(key))).String()...)
	case providersNamespace:
		b = append(b, '/')
		b = b32.AppendEncode(b, []byte(ns))
	default:
		b = append(b, '/')
		b = append(b, ns...)
	}
	b = append(b, '/')
	return b32.AppendEncode(b, []byte(key))
}

// recordNamespace returns the namespace of a record key, the text between
// its first two slashes. It is empty for a key without one; such a record
// is filed at the root, as the DHT files it.
func recordNamespace[K ~string | ~[]byte](key K) K {
	if len(key) == 0 || key[0] != '/' {
		return key[:0]
	}
	for i := 1; i < len(key); i++ {
		if key[i] == '/' {
			return key[1:i]
		}
	}
	return key[:0]
}

func checkRecordKey(key string) error {
	if recordNamespace(key) == "" {
		return Errorf(ErrInvalidKey, "record key %q has no namespace; record keys look like /<namespace>/<name>", key)
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
		return Errorf(ErrRejected, "record %q: %v", rec.Key, err)
	}
	if !s.reuse {
		return s.d.Put(ctx, RecordKey(rec.Key), appendRecord(nil, rec))
	}
	bp := encodeBuffers.Get().(*[]byte)
	defer encodeBuffers.Put(bp)
	*bp = appendRecord((*bp)[:0], rec)
	return s.d.Put(ctx, RecordKey(rec.Key), *bp)
}

// Write stores puts and removes the records under removes in one batch of
// the datastore when it is a go-datastore Batching (one commit, so one
// sync on a store that syncs every write), else one by one. Puts are
// stamped and checked as Put does; nothing is written if one is refused.
func (s *RecordStore) Write(ctx context.Context, puts []Record, removes []string) error {
	var w ds.Write = s.d
	var b ds.Batch
	if bd, ok := s.d.(ds.Batching); ok {
		var err error
		if b, err = bd.Batch(ctx); err != nil {
			return err
		}
		w = b
	}
	if err := s.WriteTo(ctx, w, puts, removes); err != nil {
		return err
	}
	if b != nil {
		return b.Commit(ctx)
	}
	return nil
}

// WriteTo writes puts and the removal of the records under removes to w,
// a batch of the store's datastore (or the datastore itself), laid out as
// Write lays them out, so that a caller can commit them in one batch with
// writes of its own. Puts are stamped and checked as Put does; nothing is
// written to w if one is refused.
func (s *RecordStore) WriteTo(ctx context.Context, w ds.Write, puts []Record, removes []string) error {
	for i := range puts {
		if err := checkRecordKey(puts[i].Key); err != nil {
			return err
		}
		if puts[i].Received.IsZero() {
			puts[i].Received = time.Now()
		}
		if err := checkReceived(puts[i].Received); err != nil {
			return Errorf(ErrRejected, "record %q: %v", puts[i].Key, err)
		}
	}
	for _, key := range removes {
		if err := checkRecordKey(key); err != nil {
			return err
		}
	}
	for _, rec := range puts {
		if err := w.Put(ctx, RecordKey(rec.Key), appendRecord(nil, rec)); err != nil {
			return err
		}
	}
	for _, key := range removes {
		if err := w.Delete(ctx, RecordKey(key)); err != nil {
			return err
		}
	}
	return nil
}

// encodeBuffers holds buffers for encoding records.
var encodeBuffers = sync.Pool{New: func() any { return new([]byte) }}

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
			return Record{}, Errorf(ErrNotFound, "no record %q in the store", key)
		}
		return Record{}, err
	}
	raw, err := parseRecord(buf)
	if err != nil {
		return Record{}, fmt.Errorf("record %q: the stored bytes are damaged: %w", key, err)
	}
	if string(raw.key) != key {
		return Record{}, fmt.Errorf("record %q: the stored record names another key, %q", key, raw.key)
	}
	rec, err := raw.record(key)
	if err != nil {
		return Record{}, fmt.Errorf("record %q: the stored bytes are damaged: %w", key, err)
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
		for e, err := range readAhead(ctx, func(ctx context.Context) iter.Seq2[dsq.Entry, error] {
			return queryEntries(ctx, s.d, q)
		}) {
			if err != nil {
				yield(Record{}, err)
				return
			}
			if strings.HasPrefix(e.Key, "/"+providersNamespace+"/") {
				continue
			}
			raw, err := parseRecord(e.Value)
			if err != nil || !filedUnder(raw.key, e.Key) {
				continue
			}
			if namespace != "" && string(recordNamespace(raw.key)) != namespace {
				continue
			}
			rec, err := raw.record(string(raw.key))
			if err != nil {
				continue
			}
			if !yield(rec, nil) {
				return
			}
		}
	}
}

// filedUnder reports whether dsKey is the datastore key of the record key.
func filedUnder(key []byte, dsKey string) bool {
	var buf [256]byte
	return string(appendRecordKey(buf[:0], key)) == dsKey
}

// The libp2p record protobuf (github.com/libp2p/go-libp2p-record/pb):
// key = 1 (bytes), value = 2 (bytes), timeReceived = 5 (string, RFC 3339
// with nanoseconds, UTC).
const (
	recordFieldKey      = 1
	recordFieldValue    = 2
	recordFieldReceived = 5
)

// appendRecord appends the protobuf encoding of rec to b.
func appendRecord(b []byte, rec Record) []byte {
	var stamp [len(time.RFC3339Nano) + 8]byte
	received := rec.Received.UTC().AppendFormat(stamp[:0], time.RFC3339Nano)
	b = slices.Grow(b, protowire.SizeTag(recordFieldKey)+protowire.SizeBytes(len(rec.Key))+
		protowire.SizeTag(recordFieldValue)+protowire.SizeBytes(len(rec.Value))+
		protowire.SizeTag(recordFieldReceived)+protowire.SizeBytes(len(received)))
	b = protowire.AppendTag(b, recordFieldKey, protowire.BytesType)
	b = protowire.AppendString(b, rec.Key)
	b = protowire.AppendTag(b, recordFieldValue, protowire.BytesType)
	b = protowire.AppendBytes(b, rec.Value)
	b = protowire.AppendTag(b, recordFieldReceived, protowire.BytesType)
	b = protowire.AppendBytes(b, received)
	return b
}

func decodeRecord(b []byte) (Record, error) {
	raw, err := parseRecord(b)
	if err != nil {
		return Record{}, err
	}
	return raw.record(string(raw.key))
}

// rawRecord is a stored record's fields, still in the stored bytes.
type rawRecord struct {
	key, value, received []byte
}

func parseRecord(b []byte) (rawRecord, error) {
	var raw rawRecord
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return rawRecord{}, protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return rawRecord{}, protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return rawRecord{}, protowire.ParseError(n)
		}
		b = b[n:]
		switch num {
		case recordFieldKey:
			raw.key = v
		case recordFieldValue:
			raw.value = v
		case recordFieldReceived:
			raw.received = v
		}
	}
	return raw, nil
}

// record returns the Record; key is the record key as a string, which the
// caller may already hold.
func (r rawRecord) record(key string) (Record, error) {
	rec := Record{Key: key, Value: r.value}
	if len(r.received) > 0 {
		t, ok := parseUTCStamp(r.received)
		if !ok {
			var err error
			if t, err = time.Parse(time.RFC3339Nano, string(r.received)); err != nil {
				return Record{}, fmt.Errorf("bad receive time %q", r.received)
			}
		}
		rec.Received = t
	}
	return rec, nil
}

// parseUTCStamp parses the receive times this package and kad-dht write,
// "2006-01-02T15:04:05.999999999Z", without allocating; it reports false for
// anything else, which time.Parse then handles. A scan decodes one per
// record.
func parseUTCStamp(b []byte) (time.Time, bool) {
	const base = len("2006-01-02T15:04:05")
	if len(b) < base+1 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(from, to int) (int, bool) {
		n := 0
		for _, c := range b[from:to] {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(0, 4)
	month, ok2 := num(5, 7)
	day, ok3 := num(8, 10)
	hour, ok4 := num(11, 13)
	minute, ok5 := num(14, 16)
	sec, ok6 := num(17, 19)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		(day > 28 && day > daysIn(time.Month(month), year)) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	if frac := b[base : len(b)-1]; len(frac) > 0 {
		digits := len(frac) - 1
		if frac[0] != '.' || digits < 1 || digits > 9 {
			return time.Time{}, false
		}
		n, ok := num(base+1, len(b)-1)
		if !ok {
			return time.Time{}, false
		}
		for range 9 - digits {
			n *= 10
		}
		nsec = n
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}
