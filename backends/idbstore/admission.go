//go:build js && wasm

package idbstore

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall/js"

	"github.com/netabase/netabase/core"
)

// ProgramDigest is the name of the JavaScript global that a page's loader
// sets, before it runs its Go program, to the SHA-256 of the WebAssembly
// binary it instantiates, in hex: the identity of the program's build, which
// [Driver]'s Describe puts in Info.Build. examples/wasm/index.html shows how.
const ProgramDigest = "netabaseProgramSHA256"

var program = sync.OnceValue(identifyProgram)

// identifyProgram names the build of the program running: the digest its
// page's loader gave (see ProgramDigest); without one, what
// [core.ProgramBuild] names, which in a browser is the module's revision
// and a digest of its build information when the program was built from a
// clean checkout, or else a random name, so that no admission certificate
// outlives this load of the page.
//
// The adapter's code is in the program, so a certificate must hold for one
// program build, as one for a plugin holds for one plugin binary.
func identifyProgram() string {
	if v := js.Global().Get(ProgramDigest); v.Type() == js.TypeString {
		if d := strings.ToLower(v.String()); len(d) == 64 && isHex(d) {
			return "program sha256:" + d
		}
	}
	return core.ProgramBuild()
}

func isHex(s string) bool {
	return strings.Trim(s, "0123456789abcdef") == ""
}

// CertificatePrefix begins the localStorage key of every certificate cache
// [CertificateCache] returns.
const CertificatePrefix = "netabase-admission:"

// CertificateCache returns a certificate cache for [core.Gate]'s
// Certificates, kept as JSON in the page origin's localStorage under the
// key CertificatePrefix+name: a page admits its store through the gate,
// which runs the conformance suite once per build (Info.Build names the
// browser and the program, see ProgramDigest) and opens it from the cached
// certificate on later loads. Content that is not a certificate list counts
// as none (the suite runs again); where localStorage is unavailable, as
// under Node.js or when the browser blocks a site's storage, loading finds
// nothing and saving fails, saying why.
func CertificateCache(name string) core.CertificateCache {
	return localCache{key: CertificatePrefix + name}
}

type localCache struct{ key string }

func localStorage() (js.Value, error) {
	// Reading localStorage throws where the browser denies it; Reflect.get
	// through call turns that into an error.
	ls, err := call(js.Global().Get("Reflect"), "get", js.Global(), "localStorage")
	if err != nil {
		return js.Value{}, fmt.Errorf("the page's localStorage is not available: %w", err)
	}
	if ls.Type() != js.TypeObject {
		return js.Value{}, errors.New("there is no localStorage here: a certificate cache in localStorage needs a browser's page")
	}
	return ls, nil
}

func (c localCache) LoadCertificates() ([]byte, error) {
	ls, err := localStorage()
	if err != nil {
		return nil, err
	}
	v, err := call(ls, "getItem", c.key)
	switch {
	case err != nil:
		return nil, fmt.Errorf("reading %s from localStorage: %w", c.key, err)
	case v.Type() == js.TypeNull:
		return nil, nil
	case v.Type() != js.TypeString:
		return nil, fmt.Errorf("localStorage holds a %s under %s, not text", v.Type(), c.key)
	}
	return []byte(v.String()), nil
}

func (c localCache) SaveCertificates(b []byte) error {
	ls, err := localStorage()
	if err != nil {
		return err
	}
	if _, err := call(ls, "setItem", c.key, string(b)); err != nil {
		return fmt.Errorf("writing %s to localStorage: %w", c.key, err)
	}
	return nil
}
