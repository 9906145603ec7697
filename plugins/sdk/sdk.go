package sdk

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"

	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	"github.com/netabase/netabase/plugins/wire"
)

// ProtocolVersion is the newest version of netabase's storage plugin
// protocol that plugins built with this SDK speak. They serve every
// version the SDK knows (1, 2 and 3), and the host picks the newest it
// speaks too.
const ProtocolVersion = wire.ProtocolVersion

// Config describes a plugin.
type Config struct {
	// Name of the engine, such as "bbolt". Required; at most 64 bytes,
	// without control characters (the host refuses others).
	Name string
	// Version of the plugin build, such as "v1.0.0 (bbolt v1.5.0)".
	// Required; at most 256 bytes, without control characters.
	Version string
	// Capabilities the store declares. The conformance suite checks each.
	Capabilities Capabilities
	// Options the plugin accepts; any other option is refused.
	Options []Option
	// Open opens the store with the options the user gave. The SDK closes
	// the store it returns when the host closes it or goes away.
	Open func(ctx context.Context, opts *Options) (ds.Batching, error)
	// Destroy removes all the data of the scratch store opts name: what
	// Open made and wrote in the places its [Namespace] options name (for
	// a database: drop the scratch table or schema). Required when an
	// option is of kind Namespace, unused otherwise. The SDK calls it only
	// for a scratch store the host made (every Namespace option a scratch
	// name) and refuses any other call, so it never sees live data's
	// options; it must succeed when there is nothing to remove.
	Destroy func(ctx context.Context, opts *Options) error
	// SyncWrites reports whether the store Open made with opts makes
	// every write durable before acknowledging it (what sync=true means
	// for netabase's own backends). Under protocol versions 2 and 3 the host then
	// acknowledges a write only once the store has; otherwise it
	// acknowledges a write as soon as it is queued for the store, and the
	// next Sync makes it durable. Nil means: the value of the Bool option
	// named "sync", when the plugin declares one, and false otherwise.
	SyncWrites func(opts *Options) bool
	// MaxProtocol, when set, is the newest protocol version the plugin
	// serves: 1 serves version 1 only, 2 versions 1 and 2, for testing a
	// host's fallback. Zero serves every version this SDK speaks.
	MaxProtocol int
}

// Capabilities are what a plugin's store declares.
type Capabilities struct {
	// Persistent: data survives Close and a reopen with the same options.
	Persistent bool
	// Durable: once Sync returns nil, the data survives a crash of the
	// process (and of the machine, when the engine fsyncs).
	Durable bool
}

// Kind says how an option's value is written and read.
type Kind int

// The kinds of options.
const (
	// String is any text.
	String Kind = iota + 1
	// Path is an absolute filesystem path where the store keeps data.
	// Scratch stores get every path option rewritten to a fresh place.
	Path
	// Bool is true, false, 1 or 0.
	Bool
	// Int is a non-negative integer.
	Int
	// Duration is a non-negative Go duration such as 90s.
	Duration
	// Size is a byte count such as 65536 or 64MiB.
	Size
	// Namespace is a name that locates the store's data inside a server
	// the plugin connects to: a table or schema of a database, a key
	// prefix, a bucket. A word of lower-case ASCII letters, digits and
	// underscores that starts with a letter, at most 63 bytes. Scratch
	// stores get every namespace option rewritten to a fresh name, and
	// [Config.Destroy] removes their data afterwards.
	Namespace
)

var wireKinds = map[Kind]pb.OptionKind{
	String:    pb.OptionKind_OPTION_KIND_STRING,
	Path:      pb.OptionKind_OPTION_KIND_PATH,
	Bool:      pb.OptionKind_OPTION_KIND_BOOL,
	Int:       pb.OptionKind_OPTION_KIND_INT,
	Duration:  pb.OptionKind_OPTION_KIND_DURATION,
	Size:      pb.OptionKind_OPTION_KIND_SIZE,
	Namespace: pb.OptionKind_OPTION_KIND_NAMESPACE,
}

func (k Kind) String() string { return wire.KindName(wireKinds[k]) }

// Option declares one option of a plugin.
type Option struct {
	// Name as it appears in the storage URL, such as "path": a plain word
	// of at most 64 bytes, which the host also uses as a file name.
	Name string
	Kind Kind
	// Doc says what the option does, for `netabase plugin` listings and
	// error messages.
	Doc string
	// Required options must be given.
	Required bool
	// Default is the value used when the option is not given, written as
	// in a URL; empty for none.
	Default string
}

// Options are the parsed options a store is opened with. Every value has
// been checked against its declared kind before Open sees it.
type Options struct {
	vals  map[string]any
	kinds map[string]Kind
	log   *slog.Logger
	// misuse records reads of undeclared options or with the wrong kind:
	// a bug in the plugin, reported to the host instead of a silent zero.
	misuse []string
}

func (o *Options) value(name string, k Kind) any {
	got, ok := o.kinds[name]
	switch {
	case !ok:
		o.misuse = append(o.misuse, fmt.Sprintf("the plugin reads option %q, which it does not declare", name))
		return nil
	case got != k:
		o.misuse = append(o.misuse, fmt.Sprintf("the plugin reads option %q as %s, but declares it as %s", name, k, got))
		return nil
	}
	return o.vals[name]
}

// Has reports whether the option name was given or has a default.
func (o *Options) Has(name string) bool {
	_, ok := o.vals[name]
	return ok
}

// String returns a String option, or "" when it is not set.
func (o *Options) String(name string) string {
	v, _ := o.value(name, String).(string)
	return v
}

// Path returns a Path option (an absolute path), or "" when it is not set.
func (o *Options) Path(name string) string {
	v, _ := o.value(name, Path).(string)
	return v
}

// Namespace returns a Namespace option, or "" when it is not set.
func (o *Options) Namespace(name string) string {
	v, _ := o.value(name, Namespace).(string)
	return v
}

// Bool returns a Bool option, or false when it is not set.
func (o *Options) Bool(name string) bool {
	v, _ := o.value(name, Bool).(bool)
	return v
}

// Int returns an Int option, or 0 when it is not set.
func (o *Options) Int(name string) int {
	v, _ := o.value(name, Int).(int)
	return v
}

// Duration returns a Duration option, or 0 when it is not set.
func (o *Options) Duration(name string) time.Duration {
	v, _ := o.value(name, Duration).(time.Duration)
	return v
}

// Size returns a Size option in bytes, or 0 when it is not set.
func (o *Options) Size(name string) int64 {
	v, _ := o.value(name, Size).(int64)
	return v
}

// Logger returns the plugin's logger. Its records appear in the node's log
// under the plugin's name.
func (o *Options) Logger() *slog.Logger { return o.log }

// Serve serves the plugin described by cfg and exits the process when the
// host is done with it. Started by hand, not by a netabase host, it prints
// what the plugin is and how to use it, and exits with status 1; with a
// faulty cfg it says what is wrong and exits with status 2.
func Serve(cfg Config) {
	os.Exit(serve(cfg, os.Getenv(wire.Handshake.MagicCookieKey) == wire.Handshake.MagicCookieValue, os.Args, os.Stderr))
}

// serve is Serve without the exit; byHost tells whether a host started the
// process.
func serve(cfg Config, byHost bool, args []string, stderr io.Writer) int {
	specs, err := cfg.specs()
	if err != nil {
		fmt.Fprintf(stderr, "this netabase storage plugin is misconfigured; tell its author: %v\n", err)
		return 2
	}
	if !byHost {
		fmt.Fprint(stderr, usage(cfg, args))
		return 1
	}
	newServer(cfg, specs, stderr).run()
	return 0
}

// specs checks cfg and returns its options' wire form.
func (cfg Config) specs() ([]*pb.OptionSpec, error) {
	var problems []string
	if cfg.Name == "" {
		problems = append(problems, "Config.Name is empty")
	}
	if cfg.Version == "" {
		problems = append(problems, "Config.Version is empty")
	}
	if cfg.Open == nil {
		problems = append(problems, "Config.Open is nil")
	}
	if cfg.Destroy == nil && slices.ContainsFunc(cfg.Options, func(o Option) bool { return o.Kind == Namespace }) {
		problems = append(problems, "an option is of kind sdk.Namespace, so Config.Destroy must remove a scratch store's data; it is nil")
	}
	if cfg.MaxProtocol != 0 && (cfg.MaxProtocol < wire.ProtocolV1 || cfg.MaxProtocol > wire.ProtocolVersion) {
		problems = append(problems, fmt.Sprintf("Config.MaxProtocol is %d; this SDK speaks versions %d to %d (0 for all)", cfg.MaxProtocol, wire.ProtocolV1, wire.ProtocolVersion))
	}
	var specs []*pb.OptionSpec
	for i, o := range cfg.Options {
		k, ok := wireKinds[o.Kind]
		switch {
		case o.Name == "" || strings.ContainsAny(o.Name, "&=?#% "):
			problems = append(problems, fmt.Sprintf("option %d has the name %q; use a plain word", i, o.Name))
		case o.Name == wire.HostParam:
			problems = append(problems, fmt.Sprintf("option %q is the host's own URL parameter; choose another name", o.Name))
		case slices.ContainsFunc(cfg.Options[:i], func(p Option) bool { return p.Name == o.Name }):
			problems = append(problems, fmt.Sprintf("option %q is declared twice", o.Name))
		case !ok:
			problems = append(problems, fmt.Sprintf("option %q has no kind; set Kind to sdk.String, sdk.Path, ...", o.Name))
		case o.Required && o.Default != "":
			problems = append(problems, fmt.Sprintf("option %q is required and has a default; choose one", o.Name))
		}
		spec := &pb.OptionSpec{Name: o.Name, Kind: k, Doc: o.Doc, Required: o.Required, DefaultValue: o.Default}
		if o.Default != "" && ok {
			if _, err := wire.ParseValue(k, o.Default); err != nil {
				problems = append(problems, fmt.Sprintf("the default of option %q: %v", o.Name, err))
			}
		}
		specs = append(specs, spec)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return specs, nil
}

func (cfg Config) options(vals map[string]any, log *slog.Logger) *Options {
	o := &Options{vals: vals, kinds: map[string]Kind{}, log: log}
	for _, opt := range cfg.Options {
		o.kinds[opt.Name] = opt.Kind
	}
	return o
}

func usage(cfg Config, args []string) string {
	self := "/abs/path/to/this/binary"
	if len(args) > 0 && strings.HasPrefix(args[0], "/") {
		self = args[0]
	}
	var b strings.Builder
	proto := "protocols 1, 2 and 3"
	switch cfg.MaxProtocol {
	case wire.ProtocolV1:
		proto = "protocol 1"
	case wire.ProtocolV2:
		proto = "protocols 1 and 2"
	}
	fmt.Fprintf(&b, "%s %s is a netabase storage plugin (%s).\n", cfg.Name, cfg.Version, proto)
	fmt.Fprintf(&b, "A netabase node starts it; it is not run by hand.\n\n")
	fmt.Fprintf(&b, "To use it, pin this binary's checksum into a storage URL:\n\n")
	fmt.Fprintf(&b, "  netabase plugin pin %s", self)
	for _, o := range cfg.Options {
		if o.Required {
			fmt.Fprintf(&b, " %s=<%s>", o.Name, o.Kind)
		}
	}
	fmt.Fprintf(&b, "\n\nand give the URL it prints to netabase, such as:\n\n")
	fmt.Fprintf(&b, "  netabase conformance 'plugin://%s?sha256=<hex>&...'\n\n", self)
	caps := []string{}
	if cfg.Capabilities.Persistent {
		caps = append(caps, "persistent")
	}
	if cfg.Capabilities.Durable {
		caps = append(caps, "durable")
	}
	if len(caps) == 0 {
		caps = append(caps, "none")
	}
	fmt.Fprintf(&b, "Capabilities: %s\n", strings.Join(caps, ", "))
	if len(cfg.Options) == 0 {
		fmt.Fprintf(&b, "Options: none\n")
	} else {
		fmt.Fprintf(&b, "Options:\n")
		for _, o := range cfg.Options {
			extra := ""
			switch {
			case o.Required:
				extra = ", required"
			case o.Default != "":
				extra = ", default " + o.Default
			}
			fmt.Fprintf(&b, "  %s (%s%s): %s\n", o.Name, o.Kind, extra, o.Doc)
		}
	}
	return b.String()
}
