// Package wire holds what both ends of netabase's plugin protocol must agree
// on beyond the generated code: the go-plugin handshake, message size
// limits, the mapping of errors to stable codes and back, option parsing,
// the encoding of go-datastore queries, and the frames of records of
// protocol version 3 (Frame, FrameReader; specified in FRAMES.md).
package wire

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-plugin"
	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
)

// ProtocolVersion is the newest version of the storage plugin protocol
// this build speaks: version 3 (netabase.storage.v3), which moves the
// records of writes and query results in frames (FRAMES.md). A host offers
// every version in Versions at go-plugin's handshake (VersionedPlugins)
// and the plugin picks the newest it serves.
const ProtocolVersion = ProtocolV3

// The versions of the protocol. Hosts keep speaking the older ones to
// plugins that serve only those.
const (
	// ProtocolV1 (netabase.storage.v1): one round trip per write.
	ProtocolV1 = 1
	// ProtocolV2 (netabase.storage.v2): writes pipelined on one stream.
	ProtocolV2 = 2
	// ProtocolV3 (netabase.storage.v3): version 2 with frames of records.
	ProtocolV3 = 3
)

// Versions are the protocol versions this build speaks, oldest first.
var Versions = []int{ProtocolV1, ProtocolV2, ProtocolV3}

// PluginName is the name of the one plugin a storage plugin process serves.
const PluginName = "storage"

// Handshake is the go-plugin handshake of netabase storage plugins. The
// cookie only tells a plugin binary that a netabase host started it.
var Handshake = plugin.HandshakeConfig{
	// The version a go-plugin peer that negotiates none falls back to.
	ProtocolVersion:  ProtocolV1,
	MagicCookieKey:   "NETABASE_STORAGE_PLUGIN",
	MagicCookieValue: "a4d2c1b0-netabase-storage",
}

// MaxMessageSize bounds one gRPC message in either direction: a value of
// core.MaxValueSize with a key of core.MaxKeySize and framing fits.
const MaxMessageSize = core.MaxValueSize + core.MaxKeySize + 64<<10

// Flow-control windows and socket buffers of both ends. gRPC's defaults (a
// 64 KiB window grown by estimation, 32 KiB buffers) stall a batch of a few
// hundred KiB on window updates; a plugin's peer is a local process, so
// the windows are sized for the largest message.
const (
	StreamWindow = MaxMessageSize
	ConnWindow   = 4 * MaxMessageSize
	BufferSize   = 256 << 10
)

// MaxChunkSize is the most payload the host packs into one Commit message;
// a single larger mutation travels alone.
const MaxChunkSize = 1 << 20

// HostParam is the URL parameter the host reads itself; a plugin cannot
// declare an option by this name.
const HostParam = "sha256"

// Code returns the wire form of err, or nil for nil.
func Code(err error) *pb.Error {
	if err == nil {
		return nil
	}
	code := pb.ErrorCode_ERROR_CODE_INTERNAL
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			code = s.code
			break
		}
	}
	return &pb.Error{Code: code, Message: err.Error()}
}

var sentinels = []struct {
	code pb.ErrorCode
	err  error
}{
	{pb.ErrorCode_ERROR_CODE_NOT_FOUND, ds.ErrNotFound},
	{pb.ErrorCode_ERROR_CODE_CLOSED, core.ErrClosed},
	{pb.ErrorCode_ERROR_CODE_INVALID_KEY, core.ErrInvalidKey},
	{pb.ErrorCode_ERROR_CODE_TOO_LARGE, core.ErrTooLarge},
	{pb.ErrorCode_ERROR_CODE_UNSUPPORTED, core.ErrUnsupported},
	{pb.ErrorCode_ERROR_CODE_REJECTED, core.ErrRejected},
	{pb.ErrorCode_ERROR_CODE_CONFLICT, core.ErrConflict},
	{pb.ErrorCode_ERROR_CODE_CANCELED, context.Canceled},
	{pb.ErrorCode_ERROR_CODE_DEADLINE_EXCEEDED, context.DeadlineExceeded},
	{pb.ErrorCode_ERROR_CODE_INVALID_OPTIONS, ErrInvalidOptions},
	{pb.ErrorCode_ERROR_CODE_NOT_OPEN, ErrNotOpen},
}

// ErrInvalidOptions is the sentinel of an unknown, missing or malformed
// plugin option.
var ErrInvalidOptions = errors.New("invalid plugin options")

// ErrNotOpen is the sentinel of a call to a plugin whose store is not open.
var ErrNotOpen = errors.New("the plugin's store is not open")

// RemoteError is a store error that came across the wire from a plugin.
// errors.Is matches it with the sentinel of its code (core.ErrClosed,
// core.ErrInvalidKey, ...).
type RemoteError struct {
	Plugin  string       // the plugin's name
	Code    pb.ErrorCode // the wire code
	Message string       // the plugin's message
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("plugin %s: %s", e.Plugin, e.Message)
}

// Unwrap returns the sentinel of the error's code, or nil for an internal
// or unknown code.
func (e *RemoteError) Unwrap() error {
	for _, s := range sentinels {
		if s.code == e.Code {
			return s.err
		}
	}
	return nil
}

// Error returns the error that e carries from the plugin named plugin, or
// nil. A missing key is go-datastore's ErrNotFound itself, so that code
// comparing with == works.
func Error(plugin string, e *pb.Error) error {
	if e == nil {
		return nil
	}
	if e.Code == pb.ErrorCode_ERROR_CODE_NOT_FOUND {
		return ds.ErrNotFound
	}
	msg := Clip(e.Message)
	if msg == "" {
		msg = "error code " + e.Code.String()
	}
	return &RemoteError{Plugin: plugin, Code: e.Code, Message: msg}
}

// MaxText bounds, in bytes, a text from a plugin that the host passes on
// in an error: an error message, a key.
const MaxText = 2 << 10

// Clip returns s, cut to at most MaxText bytes (at a character boundary)
// with a note of how much was cut.
func Clip(s string) string {
	if len(s) <= MaxText {
		return s
	}
	n := MaxText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s... (%d more bytes cut)", s[:n], len(s)-n)
}

// Kind names of options, as plugin authors and users see them.
var kindNames = map[pb.OptionKind]string{
	pb.OptionKind_OPTION_KIND_STRING:    "string",
	pb.OptionKind_OPTION_KIND_PATH:      "path",
	pb.OptionKind_OPTION_KIND_BOOL:      "bool",
	pb.OptionKind_OPTION_KIND_INT:       "int",
	pb.OptionKind_OPTION_KIND_DURATION:  "duration",
	pb.OptionKind_OPTION_KIND_SIZE:      "size",
	pb.OptionKind_OPTION_KIND_NAMESPACE: "namespace",
}

// KindName names an option kind, such as "path".
func KindName(k pb.OptionKind) string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("unknown kind %d", k)
}

// KnownKind reports whether k is an option kind this protocol version
// defines.
func KnownKind(k pb.OptionKind) bool {
	_, ok := kindNames[k]
	return ok
}

// ParseValue parses one option value of kind k. The result is a string, a
// bool, an int, a time.Duration or an int64 (a size).
func ParseValue(k pb.OptionKind, v string) (any, error) {
	switch k {
	case pb.OptionKind_OPTION_KIND_STRING:
		return v, nil
	case pb.OptionKind_OPTION_KIND_PATH:
		if !strings.HasPrefix(v, "/") {
			return nil, fmt.Errorf("want an absolute path, got %q", v)
		}
		return v, nil
	case pb.OptionKind_OPTION_KIND_BOOL:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("want true or false, got %q", v)
		}
		return b, nil
	case pb.OptionKind_OPTION_KIND_INT:
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("want a non-negative integer, got %q", v)
		}
		return n, nil
	case pb.OptionKind_OPTION_KIND_DURATION:
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("want a duration such as 90s or 15m, got %q", v)
		}
		return d, nil
	case pb.OptionKind_OPTION_KIND_SIZE:
		n, err := core.ParseSize(v)
		if err != nil {
			return nil, fmt.Errorf("want a size such as 65536 or 64MiB, got %q", v)
		}
		return n, nil
	case pb.OptionKind_OPTION_KIND_NAMESPACE:
		if !namespaceName(v) {
			return nil, fmt.Errorf("want a name of lower-case letters, digits and underscores that starts with a letter, at most %d bytes, got %q", MaxNamespace, v)
		}
		return v, nil
	}
	return nil, fmt.Errorf("the plugin declares the option with %s", KindName(k))
}

// ParseOptions checks given against specs and returns every option's parsed
// value, defaults included: it rejects unknown and repeated options, missing
// required ones and malformed values, naming each. The error wraps
// ErrInvalidOptions.
func ParseOptions(specs []*pb.OptionSpec, given []*pb.Option) (map[string]any, error) {
	var errs []string
	vals := map[string]any{}
	seen := map[string]bool{}
	for _, o := range given {
		i := slices.IndexFunc(specs, func(s *pb.OptionSpec) bool { return s.GetName() == o.GetName() })
		switch {
		case seen[o.GetName()]:
			errs = append(errs, fmt.Sprintf("option %q is given more than once; give it once", o.GetName()))
			continue
		case i < 0:
			errs = append(errs, fmt.Sprintf("unknown option %q (this plugin accepts %s)", o.GetName(), accepts(specs)))
			continue
		}
		seen[o.GetName()] = true
		v, err := ParseValue(specs[i].GetKind(), o.GetValue())
		if err != nil {
			errs = append(errs, fmt.Sprintf("option %q: %v", o.GetName(), err))
			continue
		}
		vals[o.GetName()] = v
	}
	for _, s := range specs {
		if seen[s.GetName()] {
			continue
		}
		switch {
		case s.GetRequired():
			errs = append(errs, fmt.Sprintf("option %q is required: %s", s.GetName(), s.GetDoc()))
		case s.GetDefaultValue() != "":
			v, err := ParseValue(s.GetKind(), s.GetDefaultValue())
			if err != nil {
				errs = append(errs, fmt.Sprintf("the default of option %q: %v", s.GetName(), err))
				continue
			}
			vals[s.GetName()] = v
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidOptions, strings.Join(errs, "; "))
	}
	return vals, nil
}

func accepts(specs []*pb.OptionSpec) string {
	if len(specs) == 0 {
		return "no options"
	}
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = strconv.Quote(s.GetName())
	}
	return "only " + strings.Join(names, ", ")
}

// Key returns the datastore key b holds, or an error wrapping
// core.ErrInvalidKey. It never panics, whatever b holds.
func Key(b []byte) (ds.Key, error) { return KeyString(string(b)) }

// KeyString is Key of a key held in a string.
func KeyString(s string) (ds.Key, error) {
	if len(s) < 2 || s[0] != '/' || s[len(s)-1] == '/' {
		return ds.Key{}, fmt.Errorf("%w %q: a key is a rooted path such as /a/b", core.ErrInvalidKey, s)
	}
	k := ds.RawKey(s)
	return k, core.CheckKey(k)
}

// Prefix returns the key prefix b holds for Sync: the root "/" or a key.
func Prefix(b []byte) (ds.Key, error) {
	if len(b) == 0 || string(b) == "/" {
		return ds.NewKey("/"), nil
	}
	return Key(b)
}

// MaxNamespace is the longest value of a namespace option, in bytes (the
// longest identifier PostgreSQL keeps whole).
const MaxNamespace = 63

// ScratchPrefix starts every namespace the host makes for a scratch store.
const ScratchPrefix = "netabase_scratch_"

// namespaceName reports whether v is a valid namespace option value.
func namespaceName(v string) bool {
	if v == "" || len(v) > MaxNamespace || v[0] < 'a' || v[0] > 'z' {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ScratchNamespace returns a fresh namespace for a scratch store:
// ScratchPrefix and 16 random hex digits.
func ScratchNamespace() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24 and later)
	return ScratchPrefix + hex.EncodeToString(b[:])
}

// IsScratchNamespace reports whether v has the form of a namespace that
// ScratchNamespace makes.
func IsScratchNamespace(v string) bool {
	rest, ok := strings.CutPrefix(v, ScratchPrefix)
	if !ok || len(rest) != 16 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil && strings.ToLower(rest) == rest
}
