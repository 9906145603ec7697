package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/config"
)

// dataDirEnv names the environment variable that sets the default data
// directory.
const dataDirEnv = "NETABASE_PATH"

const dataDirHelp = "the node's data directory (default $" + dataDirEnv + ", else ~/.netabase)"

// dataDir is the data directory: --data-dir, else $NETABASE_PATH, else
// ~/.netabase; made absolute.
func dataDir(e *env) (string, error) {
	dir := e.dataDir
	if dir == "" {
		dir = os.Getenv(dataDirEnv)
	}
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot find the home directory for the default data directory (%v); give --data-dir or set $%s", err, dataDirEnv)
		}
		dir = filepath.Join(home, ".netabase")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("data directory %s: %w", dir, err)
	}
	return abs, nil
}

// certDirEnv names the environment variable that sets where the daemon
// keeps the admission gate's certificates.
const certDirEnv = "NETABASE_CERT_DIR"

// certDir is where the daemon keeps the admission gate's certificates:
// $NETABASE_CERT_DIR, else netabase in the user's cache directory
// (os.UserCacheDir: $XDG_CACHE_HOME, else ~/.cache, on Linux), so that the
// suite runs once per backend build for all of the user's nodes, not once
// per data directory. A certificate names the exact build (the engine's
// name and version; for a plugin, its binary's checksum) and the suite's
// version, so one kept for all nodes admits only what a node's own run
// would. Without a cache directory (no home directory), dir, the node's
// data directory, keeps them.
func certDir(dir string) string {
	if d := os.Getenv(certDirEnv); d != "" {
		return d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return dir
	}
	return filepath.Join(cache, "netabase")
}

// nodeFlags are the flags of init and daemon that set configuration keys:
// init writes them into the new file, daemon lets them override it.
type nodeFlags struct {
	// values holds each flag's value, by name: a *string, *[]string or
	// *bool; register fills it.
	values map[string]any
	// given says which of the flags the command line gave, by name; note
	// fills it.
	given map[string]bool
}

// nodeFlag is one of nodeFlags' flags: its name, its usage, the kind of
// its value (a pointer to a zero value), the configuration keys whose
// errors name the flag, and how it sets the configuration when the
// command line gives it.
type nodeFlag struct {
	name  string
	usage string
	value func() any
	keys  []string
	set   func(v any, c *config.Config)
}

// nodeFlagTable lists nodeFlags' flags: one for each key of config.Config
// with a flag tag (`flag:"name,usage"`, which sets that key), then those
// that set more than one key, or the opposite of theirs.
var nodeFlagTable = append(keyFlags(), []nodeFlag{
	{"no-mdns", "do not look for peers on the local network (key mdns = false)", func() any { return new(bool) },
		nil, func(v any, c *config.Config) {
			if *v.(*bool) {
				c.MDNS = false
			}
		}},
	{"tracing", "send OpenTelemetry traces over OTLP/HTTP to this collector URL, such as http://127.0.0.1:4318 (keys tracing.enabled = true and tracing.endpoint)",
		func() any { return new(string) },
		[]string{"tracing.endpoint"}, func(v any, c *config.Config) { c.Tracing = config.Tracing{Enabled: true, Endpoint: *v.(*string)} }},
	{"metrics", "serve Prometheus metrics at /metrics and Go's profiles at /debug/pprof/ on this host:port, such as " + config.DefaultMetricsAddress + " (keys metrics.enabled = true and metrics.address)",
		func() any { return new(string) },
		[]string{"metrics.address"}, func(v any, c *config.Config) { c.Metrics = config.Metrics{Enabled: true, Address: *v.(*string)} }},
	{"gateway", "serve the read-only HTTP gateway (records, providers, synced collections) on this host:port, such as " + config.DefaultGatewayAddress + " (keys gateway.enabled = true and gateway.address)",
		func() any { return new(string) },
		[]string{"gateway.address"}, func(v any, c *config.Config) { c.Gateway.Enabled, c.Gateway.Address = true, *v.(*string) }},
}...)

// keyFlags returns the flags of config.Config's flag tags (config.Flags),
// in the file's order: a string, an array of strings (the flag repeated)
// or a boolean key (the flag sets it true), each usage followed by its key.
func keyFlags() []nodeFlag {
	var out []nodeFlag
	for _, kf := range config.Flags() {
		nf := nodeFlag{name: kf.Name, value: kf.Value, keys: []string{kf.Key},
			set: func(v any, c *config.Config) { kf.Set(c, v) }}
		switch kf.Value().(type) {
		case *string:
			nf.usage = fmt.Sprintf("%s (key %s)", kf.Usage, kf.Key)
		case *[]string:
			nf.usage = fmt.Sprintf("%s (key %s); repeat for several", kf.Usage, kf.Key)
		case *bool:
			nf.usage = fmt.Sprintf("%s (key %s = true)", kf.Usage, kf.Key)
		default:
			panic(fmt.Sprintf("config.Config's key %s has a flag tag, but keyFlags has no flag for a %T", kf.Key, kf.Value()))
		}
		out = append(out, nf)
	}
	return out
}

func (f *nodeFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	f.values = map[string]any{}
	for _, nf := range nodeFlagTable {
		v := nf.value()
		f.values[nf.name] = v
		switch p := v.(type) {
		case *string:
			fl.StringVar(p, nf.name, "", nf.usage)
		case *[]string:
			fl.StringArrayVar(p, nf.name, nil, nf.usage)
		case *bool:
			fl.BoolVar(p, nf.name, false, nf.usage)
		}
	}
}

// note records which of the flags the command line of cmd gave. Call it
// before the command runs.
func (f *nodeFlags) note(cmd *cobra.Command) {
	f.given = map[string]bool{}
	for _, nf := range nodeFlagTable {
		f.given[nf.name] = cmd.Flags().Changed(nf.name)
	}
}

// apply sets the keys whose flags were given, and checks the result,
// naming the flags of the keys that are wrong.
func (f *nodeFlags) apply(c *config.Config) error {
	flags := map[string]string{}
	for _, nf := range nodeFlagTable {
		if f.given[nf.name] {
			nf.set(f.values[nf.name], c)
		}
		for _, k := range nf.keys {
			flags[k] = nf.name
		}
	}
	err := c.Check()
	if err == nil {
		return nil
	}
	var msgs []string
	var ce *config.Error
	for _, e := range unjoin(err) {
		if errors.As(e, &ce) && f.given[flags[ce.Key]] {
			msgs = append(msgs, fmt.Sprintf("--%s: %s", flags[ce.Key], ce.Msg))
			continue
		}
		msgs = append(msgs, e.Error())
	}
	return usageErrorf("%s", strings.Join(msgs, "\n"))
}

// storageErr reports err, a storage URL refused by its backend or the
// registry: naming --storage when the flag gave the URL (flag true; a usage
// error), else the configuration file's key.
func storageErr(flag bool, dir string, err error) error {
	if flag {
		if errors.Is(err, core.ErrInvalidURL) {
			return usageErrorf("--storage: %v", err)
		}
		return failed(fmt.Errorf("--storage: %w", err))
	}
	return failed(config.ErrorAt(filepath.Join(dir, config.FileName), "storage", err.Error()))
}

// checkStorage makes sure that the backend of the storage URL takes it,
// without opening it; flag says whether --storage gave the URL (else the
// configuration file did), for the error to name.
func checkStorage(ctx context.Context, e *env, dir, storage string, flag bool) error {
	u, d, err := e.registry.Resolve(storage)
	if err == nil {
		_, err = d.Describe(ctx, u)
	}
	if err != nil {
		return storageErr(flag, dir, err)
	}
	return nil
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// configExists reports whether dir holds a configuration file.
func configExists(dir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, config.FileName))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case errors.Is(err, syscall.ENOTDIR):
		return false, fmt.Errorf("the data directory %s is not a directory (it is a file, or lies beneath one); choose another --data-dir", dir)
	}
	return false, fmt.Errorf("cannot read the data directory: %w", err)
}

// errDataDirBusy says that another netabase process has the data
// directory dir: a daemon running there, or a node being created.
func errDataDirBusy(dir string) error {
	return fmt.Errorf("another netabase is initialising or running in the data directory %s: a daemon already running there, or init creating the node; stop it or wait for it, or choose another --data-dir", dir)
}

// takeDataDir creates the data directory dir when missing and locks it
// (see lockDataDir). It refuses a dir that is a file with an error saying so.
func takeDataDir(dir string) (unlock func(), err error) {
	if _, err := configExists(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, failed(fmt.Errorf("cannot create the data directory: %w", err))
	}
	unlock, err = lockDataDir(dir)
	if err != nil {
		return nil, failed(err)
	}
	return unlock, nil
}

// writeConfig writes c as dir's configuration file, which must not exist:
// when it does, another netabase created it meanwhile.
func writeConfig(dir string, c config.Config) error {
	b, err := c.Encode()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create the data directory: %w", err)
	}
	path := filepath.Join(dir, config.FileName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return errDataDirBusy(dir)
	}
	if err != nil {
		return fmt.Errorf("cannot write the configuration file: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("cannot write the configuration file: %w", err)
	}
	return nil
}

// freshNode is what the first start of a node created in its data
// directory, so that a first start that fails can remove exactly that:
// the configuration file and identity key it wrote, the certificate cache
// and the store directory that appeared while it started the node (see
// around), and the data directory itself when it created it. A
// certificate cache in the user's cache directory (see certDir) certifies
// a backend build, not this node, and stays; so does whatever the data
// directory held before, or gained from another hand.
type freshNode struct {
	dir        string
	createdDir bool     // the start created dir
	created    []string // the names in dir the start created, in order
}

// newFreshNode returns the freshNode of dir, which this process has taken
// (see takeDataDir) and created when missing, or nil when dir holds a
// configuration: its node exists.
func newFreshNode(dir string, missing bool) (*freshNode, error) {
	if exists, err := configExists(dir); err != nil || exists {
		return nil, err
	}
	return &freshNode{dir: dir, createdDir: missing}, nil
}

// made records that the start created name in the data directory;
// nothing when f is nil (the node exists, or netabase init, which removes
// nothing, made it).
func (f *freshNode) made(name string) {
	if f != nil {
		f.created = append(f.created, name)
	}
}

// around runs step, which creates names in the data directory when they
// are missing, and records as made by the start those that were missing
// before step and are there after it, whether or not step failed. The
// start holds the data directory's lock (takeDataDir), so no other
// netabase process writes there meanwhile.
func (f *freshNode) around(names []string, step func() error) error {
	if f == nil {
		return step()
	}
	var missing []string
	for _, name := range names {
		if _, err := os.Lstat(filepath.Join(f.dir, name)); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, name)
		}
	}
	err := step()
	for _, name := range missing {
		if _, err := os.Lstat(filepath.Join(f.dir, name)); err == nil {
			f.made(name)
		}
	}
	return err
}

// remove removes what the failed first start of f created, newest first,
// and says so on stderr; nothing when f is nil.
func (f *freshNode) remove(e *env) {
	if f == nil {
		return
	}
	var removed, left []string
	for _, name := range slices.Backward(f.created) {
		path := filepath.Join(f.dir, name)
		if err := os.RemoveAll(path); err != nil {
			left = append(left, path)
			continue
		}
		removed = append(removed, name)
	}
	slices.Reverse(removed)
	if f.createdDir && os.Remove(f.dir) == nil {
		removed = append(removed, "the data directory")
	}
	if len(removed) > 0 {
		fmt.Fprintf(e.stderr, "netabase: the first start did not complete, so the node it was creating in %s is removed (%s): the next start creates it afresh\n",
			f.dir, strings.Join(removed, ", "))
	}
	if len(left) > 0 {
		fmt.Fprintf(e.stderr, "netabase: the first start did not complete, and these files of the node it was creating could not be removed: %s; remove them before starting again\n",
			strings.Join(left, ", "))
	}
}

// startedNames are the names in the data directory dir that starting a
// node with storage may create: the certificate cache when dir keeps it
// (see certDir), and the store directory when the storage URL puts it at
// dir's top level (pebble's default does).
func startedNames(r *core.Registry, dir, storage string) []string {
	var names []string
	if filepath.Clean(certDir(dir)) == filepath.Clean(dir) {
		names = append(names, core.CertificateFile)
	}
	if store := storeName(r, dir, storage); store != "" {
		names = append(names, store)
	}
	return names
}

// storeName is the name of the store directory storage names when it is
// at the top level of the data directory dir, else "".
func storeName(r *core.Registry, dir, storage string) string {
	u, d, err := r.Resolve(storage)
	if err != nil || !d.About().Dir {
		return ""
	}
	path, err := core.Path(u)
	if err != nil || filepath.Dir(filepath.Clean(path)) != filepath.Clean(dir) {
		return ""
	}
	return filepath.Base(path)
}
