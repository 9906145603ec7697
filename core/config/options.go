package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase/core/node"
)

// option is a key of the file that is an option of the node, as its
// field's node tag says: `node:"Path"` for the option at Path in
// node.Config (such as "Limits.ConnGracePeriod"), "!Path" for a boolean
// that is the option's negation, and ",MiB" after it for a size the file
// gives in MiB and the node in bytes. The conversion goes by the option's
// type (see parsers and formats), so a key of a type the file already
// has needs nothing but its tag.
type option struct {
	key   string // dotted, such as "limits.conn_grace_period"
	index []int  // of the field in Config
	path  string // of the option in node.Config
	not   bool   // the key is the option's negation
	mib   bool   // the key is in MiB, the option in bytes
}

// eachKey calls visit with each key of the file whose field has the tag
// named tag, in the file's order: its dotted name, the path of its field
// in Config (for FieldByIndex), the field's type, and the tag's value
// before its first comma and after it.
func eachKey(tag string, visit func(key string, index []int, t reflect.Type, first, rest string)) {
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			at := append(slices.Clone(index), i)
			if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == reflect.TypeFor[Config]().PkgPath() {
				walk(f.Type, prefix+key+".", at)
				continue
			}
			if v, ok := f.Tag.Lookup(tag); ok {
				first, rest, _ := strings.Cut(v, ",")
				visit(prefix+key, at, f.Type, first, rest)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
}

// options are the file's keys that are the node's, in the file's order.
var options = sync.OnceValue(func() []option {
	var out []option
	eachKey("node", func(key string, index []int, _ reflect.Type, path, unit string) {
		o := option{key: key, index: index, mib: unit == "MiB"}
		o.path, o.not = strings.CutPrefix(path, "!")
		out = append(out, o)
	})
	return out
})

// Flag is the flag of netabase init and daemon that sets a key, from its
// field's flag tag, "name,usage".
type Flag struct {
	Name  string
	Usage string // what the tag says, without the key
	Key   string // dotted, such as "gateway.allowed_origins"
	// Value is a new pointer to a zero value of the key's type: a
	// *string, a *[]string or a *bool.
	Value func() any
	// Set sets the key of c to what a pointer Value made points to.
	Set func(c *Config, v any)
}

// Flags are the flags of the keys with a flag tag, in the file's order.
func Flags() []Flag {
	var out []Flag
	eachKey("flag", func(key string, index []int, t reflect.Type, name, usage string) {
		out = append(out, Flag{
			Name: name, Usage: usage, Key: key,
			Value: func() any { return reflect.New(t).Interface() },
			Set: func(c *Config, v any) {
				x := reflect.ValueOf(v).Elem()
				if x.Kind() == reflect.Slice {
					x = reflect.AppendSlice(reflect.MakeSlice(x.Type(), 0, x.Len()), x) // a copy
				}
				reflect.ValueOf(c).Elem().FieldByIndex(index).Set(x)
			},
		})
	})
	return out
}

// in returns the option's field in nc, a node.Config, making the tables
// (Limits, Quota) on its way when they are nil.
func (o option) in(nc reflect.Value) reflect.Value {
	v := nc
	for _, name := range strings.Split(o.path, ".") {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.FieldByName(name)
	}
	return v
}

var (
	durationType   = reflect.TypeFor[time.Duration]()
	multiaddrsType = reflect.TypeFor[[]ma.Multiaddr]()
	addrInfosType  = reflect.TypeFor[[]peer.AddrInfo]()
	modeType       = reflect.TypeFor[node.Mode]()
)

// parsers read a key's value into an option of a type a Go conversion
// does not give; an error says what is wrong with the value, after the key.
var parsers = map[reflect.Type]func(v reflect.Value) (any, error){
	durationType: func(v reflect.Value) (any, error) {
		d, err := time.ParseDuration(v.String())
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration; write one such as \"90s\", \"15m\" or \"12h\"", v.String())
		}
		return d, nil
	},
	multiaddrsType: func(v reflect.Value) (any, error) {
		if v.Len() == 0 {
			return nil, fmt.Errorf("is empty; give at least one multiaddr, such as /ip4/0.0.0.0/tcp/%d", node.DefaultPort)
		}
		out := make([]ma.Multiaddr, 0, v.Len())
		for _, s := range v.Interface().([]string) {
			a, err := ma.NewMultiaddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not a multiaddr (%v); write one such as /ip4/0.0.0.0/tcp/%d", s, err, node.DefaultPort)
			}
			out = append(out, a)
		}
		return out, nil
	},
	// Peers' addresses, those of one peer merged.
	addrInfosType: func(v reflect.Value) (any, error) {
		var addrs []ma.Multiaddr
		for _, s := range v.Interface().([]string) {
			a, err := ma.NewMultiaddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not a multiaddr (%v)", s, err)
			}
			if _, id := peer.SplitAddr(a); id == "" {
				return nil, fmt.Errorf("%q names no peer; end it with /p2p/<peer ID>, as `netabase id` prints", s)
			}
			addrs = append(addrs, a)
		}
		return peer.AddrInfosFromP2pAddrs(addrs...)
	},
	modeType: func(v reflect.Value) (any, error) {
		m, err := node.ParseMode(v.String())
		if err != nil {
			var modes []string
			for _, m := range node.Modes {
				modes = append(modes, string(m))
			}
			return nil, fmt.Errorf("%q is not a mode; use one of %s", v.String(), strings.Join(modes, ", "))
		}
		return m, nil
	},
}

// formats write an option of a type parsers reads as the file gives it.
var formats = map[reflect.Type]func(v reflect.Value) any{
	durationType: func(v reflect.Value) any { return formatDuration(time.Duration(v.Int())) },
	multiaddrsType: func(v reflect.Value) any {
		out := []string{}
		for _, a := range v.Interface().([]ma.Multiaddr) {
			out = append(out, a.String())
		}
		return out
	},
	addrInfosType: func(v reflect.Value) any {
		out := []string{}
		for _, ai := range v.Interface().([]peer.AddrInfo) {
			addrs, _ := peer.AddrInfoToP2pAddrs(&ai)
			for _, a := range addrs {
				out = append(out, a.String())
			}
		}
		return out
	},
	modeType: func(v reflect.Value) any { return v.String() },
}

// set sets to, the option, from the key's value v.
func (o option) set(to, v reflect.Value) error {
	if parse := parsers[to.Type()]; parse != nil {
		x, err := parse(v)
		if err != nil {
			return err
		}
		to.Set(reflect.ValueOf(x))
		return nil
	}
	switch {
	case o.not:
		to.SetBool(!v.Bool())
	case o.mib:
		to.SetInt(v.Int() << 20)
	default:
		to.Set(v.Convert(to.Type()))
	}
	return nil
}

// get sets v, the key, from the option's value from.
func (o option) get(v, from reflect.Value) {
	if format := formats[from.Type()]; format != nil {
		v.Set(reflect.ValueOf(format(from)))
		return
	}
	switch {
	case o.not:
		v.SetBool(!from.Bool())
	case o.mib:
		v.SetInt(from.Int() >> 20)
	default:
		v.Set(from.Convert(v.Type()))
	}
}

// show writes an option's value x as the file gives the key.
func (o option) show(x any) string {
	v := reflect.New(o.fieldType()).Elem()
	o.get(v, reflect.ValueOf(x))
	return fmt.Sprint(v.Interface())
}

func (o option) fieldType() reflect.Type {
	return reflect.TypeFor[Config]().FieldByIndex(o.index).Type
}

// defaults sets c's keys that are the node's to the node's defaults for
// a node whose data directory is dataDir.
func (c *Config) defaults(dataDir string) {
	nc := reflect.ValueOf(node.Config{DataDir: dataDir}.WithDefaults())
	cv := reflect.ValueOf(c).Elem()
	for _, o := range options() {
		from := nc
		for _, name := range strings.Split(o.path, ".") {
			from = reflect.Indirect(from).FieldByName(name)
		}
		o.get(cv.FieldByIndex(o.index), from)
	}
}

// NodeConfig converts the file's keys for the node (all but the daemon's
// own tables, [metrics], [tracing], [gateway] and [[sync]], which
// cmd/netabase reads) into the node's typed options: this is where they
// are parsed, once, by their fields' node tags, and checked by the node's
// own rules ([node.Config.Check], in the file's names). The caller adds
// what only code gives, such as the data directory, the registry and the
// suite. The errors (joined) are each an *Error naming its key; Load and
// Parse, which check a file so, give each its file and line.
func (c *Config) NodeConfig() (node.Config, error) {
	var errs []error
	// A key the file gives empty is not left to its default, as a
	// node.Config's zero option is: the file is written whole.
	if strings.TrimSpace(c.Storage) == "" {
		errs = append(errs, keyErr("storage", "is empty; give a storage URL such as pebble:///abs/path (see netabase backends)"))
	}
	if c.ProtocolPrefix == "" {
		errs = append(errs, keyErr("protocol_prefix", "is empty; give a protocol prefix, such as /netabase or /ipfs"))
	}
	if d, err := time.ParseDuration(c.Records.RepublishInterval); err == nil && d == 0 {
		errs = append(errs, keyErr("records.republish_interval", "is 0s; use at least 1s"))
	}
	var nc node.Config
	ncv, cv := reflect.ValueOf(&nc).Elem(), reflect.ValueOf(c).Elem()
	byPath := map[string]option{}
	for _, o := range options() {
		byPath[o.path] = o
		if err := o.set(o.in(ncv), cv.FieldByIndex(o.index)); err != nil {
			errs = append(errs, keyErr(o.key, "%v", err))
		}
	}
	err := nc.Check(node.Names{
		Option: func(path string) string { return byPath[path].key },
		Value: func(path string, v any) string {
			if o, ok := byPath[path]; ok {
				return o.show(v)
			}
			return fmt.Sprint(v)
		},
	})
	for _, e := range unjoin(err) {
		var oe *node.OptionError
		if errors.As(e, &oe) && byPath[oe.Option].key != "" {
			e = keyErr(byPath[oe.Option].key, "%s", oe.Msg)
		}
		if e != nil {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return node.Config{}, errors.Join(errs...)
	}
	return nc, nil
}
