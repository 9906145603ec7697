package core

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidURL is returned (wrapped, with the details) for a storage URL that
// cannot be parsed, names no known scheme, or carries a bad or unknown
// parameter.
var ErrInvalidURL = errors.New("invalid storage URL")

// Params reads a storage URL's query parameters into typed values and
// remembers which names were read, so that [Params.Err] can reject every
// parameter the backend does not know. A driver parses its URL like this:
//
//	p := core.NewParams(u)
//	opts.Sync = p.Bool("sync", false)
//	if err := p.Err(); err != nil {
//		return nil, err
//	}
type Params struct {
	u     *url.URL
	vals  url.Values
	known []string
	errs  []error
}

// NewParams starts reading u's query parameters.
func NewParams(u *url.URL) *Params {
	p := &Params{u: u}
	vals, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		p.fail("malformed query %q: %v", u.RawQuery, err)
	}
	p.vals = vals
	return p
}

func (p *Params) fail(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf(format, args...))
}

// lookup returns the single value of name, and whether it was given.
func (p *Params) lookup(name string) (string, bool) {
	if !slices.Contains(p.known, name) {
		p.known = append(p.known, name)
	}
	vs, ok := p.vals[name]
	if !ok {
		return "", false
	}
	if len(vs) > 1 {
		p.fail("parameter %q is given %d times; give it once", name, len(vs))
	}
	return vs[0], true
}

// String returns the parameter name, or def when it is absent.
func (p *Params) String(name, def string) string {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	return v
}

// Bool returns the parameter name as a boolean ("true", "false", "1", "0"),
// or def when it is absent.
func (p *Params) Bool(name string, def bool) bool {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail("parameter %q: want true or false, got %q", name, v)
		return def
	}
	return b
}

// Int returns the parameter name as a non-negative integer, or def when it is
// absent.
func (p *Params) Int(name string, def int) int {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		p.fail("parameter %q: want a non-negative integer, got %q", name, v)
		return def
	}
	return n
}

// Duration returns the parameter name as a non-negative duration such as
// "90s" or "15m", or def when it is absent.
func (p *Params) Duration(name string, def time.Duration) time.Duration {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		p.fail("parameter %q: want a duration such as 90s or 15m, got %q", name, v)
		return def
	}
	return d
}

// Bytes returns the parameter name as a byte count, or def when it is absent.
// It accepts a plain number or one with a KiB, MiB or GiB suffix.
func (p *Params) Bytes(name string, def int64) int64 {
	v, ok := p.lookup(name)
	if !ok {
		return def
	}
	n, err := ParseSize(v)
	if err != nil {
		p.fail("parameter %q: want a size such as 65536 or 64MiB, got %q", name, v)
		return def
	}
	return n
}

// ParseSize parses a size in bytes as URL parameters and plugin options give
// it: a plain number such as 65536, or one with a KiB, MiB or GiB suffix
// such as 64MiB.
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// Err reports every bad parameter and every parameter that was given but
// never read, wrapped in ErrInvalidURL. Call it after reading all parameters.
func (p *Params) Err() error {
	errs := slices.Clone(p.errs)
	var unknown []string
	for name := range p.vals {
		if !slices.Contains(p.known, name) {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		accepts := "no parameters"
		if len(p.known) > 0 {
			accepts = "only " + strings.Join(p.known, ", ")
		}
		errs = append(errs, fmt.Errorf("unknown parameter %s (the %s backend accepts %s)",
			quoteAll(unknown), p.u.Scheme, accepts))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w %s: %w", ErrInvalidURL, ShownURL(p.u), errors.Join(errs...))
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// InvalidURL returns an error wrapping ErrInvalidURL that names u and says
// what is wrong with it.
func InvalidURL(u *url.URL, format string, args ...any) error {
	return fmt.Errorf("%w %s: %s", ErrInvalidURL, ShownURL(u), fmt.Sprintf(format, args...))
}

// ShownURL is u as a user wrote it, password redacted: url.URL.String drops
// the "//" of a URL with neither host nor path, as in memory://?a=b.
func ShownURL(u *url.URL) string {
	s := u.Redacted()
	if u.Scheme != "" && u.Opaque == "" && !u.OmitHost && u.Host == "" && u.Path == "" && u.User == nil {
		return u.Scheme + "://" + strings.TrimPrefix(s, u.Scheme+":")
	}
	return s
}

// Path returns the absolute filesystem path a file-backed URL names, as in
// pebble:///var/lib/netabase/data. It rejects a URL with a host (a common
// slip: pebble://data has host "data"), without an absolute path, or
// without the slashes (pebble:/abs/path): the one form is three slashes.
func Path(u *url.URL) (string, error) {
	if u.Host != "" {
		return "", InvalidURL(u, "the path must be absolute, with three slashes: %s:///abs/path (this URL names host %q)", u.Scheme, u.Host)
	}
	if u.OmitHost {
		return "", InvalidURL(u, "write the path with three slashes: %s://%s", u.Scheme, u.Path)
	}
	if u.Path == "" || !filepath.IsAbs(u.Path) {
		return "", InvalidURL(u, "needs an absolute path, as in %s:///abs/path", u.Scheme)
	}
	return filepath.Clean(u.Path), nil
}
