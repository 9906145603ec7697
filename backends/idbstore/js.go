//go:build js && wasm

package idbstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall/js"
)

// jsGlobals are the JavaScript values the store uses on every call, looked
// up once: each lookup is a call out of WebAssembly, which costs more than
// most of what the store does in Go.
type jsGlobals struct {
	uint8Array, arrayBuffer, keyRange js.Value
	// pack is a function that copies a list of byte arrays into one (see
	// packScript), or undefined where the page's Content-Security-Policy
	// forbids making one from source ("unsafe-eval"): then each array is
	// copied by itself.
	pack js.Value
}

var globals = sync.OnceValue(func() jsGlobals {
	g := js.Global()
	p, err := call(g.Get("Function"), "call", js.Null(), "list", packScript)
	if err != nil || p.Type() != js.TypeFunction {
		p = js.Undefined()
	}
	return jsGlobals{uint8Array: g.Get("Uint8Array"), arrayBuffer: g.Get("ArrayBuffer"), keyRange: g.Get("IDBKeyRange"), pack: p}
})

// packScript is the body of a function of list, an array of ArrayBuffers
// or Uint8Arrays, that returns one Uint8Array: the length of each, four
// bytes little-endian apiece, then their bytes one after another; or, when
// an element is not bytes, its index. It turns a page of a scan into one
// copy into Go instead of several calls per entry.
const packScript = `
const n = list.length;
let total = 4 * n;
for (let i = 0; i < n; i++) {
	const b = list[i];
	if (!(b instanceof ArrayBuffer || b instanceof Uint8Array)) return i;
	total += b.byteLength;
}
const out = new Uint8Array(total), lens = new DataView(out.buffer);
let at = 4 * n;
for (let i = 0; i < n; i++) {
	const b = list[i] instanceof ArrayBuffer ? new Uint8Array(list[i]) : list[i];
	lens.setUint32(4 * i, b.byteLength, true);
	out.set(b, at);
	at += b.byteLength;
}
return out;`

// goBytesList copies list, a JavaScript array of n ArrayBuffers or
// Uint8Arrays, into n slices, each its own (appending to one never
// writes into another).
func goBytesList(list js.Value, n int) ([][]byte, error) {
	out := make([][]byte, n)
	g := globals()
	if g.pack.IsUndefined() {
		for i := range n {
			b, err := goBytes(list.Index(i))
			if err != nil {
				return nil, err
			}
			out[i] = b
		}
		return out, nil
	}
	packed, err := call(g.pack, "call", js.Null(), list)
	if err != nil {
		return nil, err
	}
	if packed.Type() == js.TypeNumber {
		_, err := goBytes(list.Index(packed.Int()))
		return nil, err // why it is not bytes
	}
	buf := make([]byte, packed.Get("byteLength").Int())
	js.CopyBytesToGo(buf, packed)
	at := 4 * n
	if len(buf) < at {
		return nil, fmt.Errorf("IndexedDB's %d entries packed into %d bytes", n, len(buf))
	}
	for i := range n {
		l := int(binary.LittleEndian.Uint32(buf[4*i:]))
		if l > len(buf)-at {
			return nil, fmt.Errorf("IndexedDB's %d entries packed into %d bytes", n, len(buf))
		}
		out[i] = buf[at : at+l : at+l]
		at += l
	}
	return out, nil
}

// call calls v's method with args and turns a JavaScript exception (which
// syscall/js raises as a panic) into an error.
func call(v js.Value, method string, args ...any) (res js.Value, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = jsError(p)
		}
	}()
	return v.Call(method, args...), nil
}

// jsError describes p, what a failed call into JavaScript panicked with.
func jsError(p any) error {
	var je js.Error
	switch e := p.(type) {
	case js.Error:
		je = e
	case error:
		if errors.As(e, &je) {
			break
		}
		return e
	default:
		return fmt.Errorf("%v", p)
	}
	return domError(je.Value)
}

// domError describes a DOMException (or any JavaScript error) by its name
// and message.
func domError(v js.Value) error {
	if v.IsUndefined() || v.IsNull() {
		return errors.New("an unknown error")
	}
	name, msg := v.Get("name"), v.Get("message")
	if name.Type() != js.TypeString || msg.Type() != js.TypeString {
		return errors.New(v.Call("toString").String())
	}
	return &DOMError{Name: name.String(), Message: msg.String()}
}

// DOMError is an error IndexedDB reported.
type DOMError struct {
	// Name is the DOMException's name, such as "QuotaExceededError".
	Name    string
	Message string
}

func (e *DOMError) Error() string {
	if e.Name == "QuotaExceededError" {
		return "IndexedDB: the browser's storage quota for this site is exhausted (" + e.Message + "); free space, or ask for more with navigator.storage.persist()"
	}
	return "IndexedDB: " + e.Name + ": " + e.Message
}

// event is what wait returns: which event fired, and the event object.
type event struct {
	name string
	ev   js.Value
}

// wait sets handlers on target for the events named, waits for the first of
// them to fire or for ctx to end, and removes the handlers. Each handler runs
// in JavaScript's event loop and only records the event, so that it never
// blocks the loop.
func wait(ctx context.Context, target js.Value, names ...string) (event, error) {
	fired := make(chan event, 1)
	funcs := make([]js.Func, len(names))
	for i, name := range names {
		funcs[i] = js.FuncOf(func(_ js.Value, args []js.Value) any {
			var ev js.Value
			if len(args) > 0 {
				ev = args[0]
			}
			select {
			case fired <- event{name, ev}:
			default: // a later event after the first: not waited for
			}
			return nil
		})
		target.Set("on"+name, funcs[i])
	}
	defer func() {
		for i, name := range names {
			target.Set("on"+name, js.Null())
			funcs[i].Release()
		}
	}()
	select {
	case e := <-fired:
		return e, nil
	case <-ctx.Done():
		return event{}, ctx.Err()
	}
}

// bytesOf copies b into a new Uint8Array.
func bytesOf(b []byte) js.Value {
	a := globals().uint8Array.New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

// goBytes copies v, an ArrayBuffer or a view of one, into a new slice.
func goBytes(v js.Value) ([]byte, error) {
	if v.IsUndefined() || v.IsNull() {
		return nil, errors.New("IndexedDB returned no bytes")
	}
	g := globals()
	switch {
	case v.InstanceOf(g.arrayBuffer):
		v = g.uint8Array.New(v)
	case !v.InstanceOf(g.uint8Array):
		return nil, fmt.Errorf("IndexedDB holds a %s where bytes were stored", v.Type())
	}
	b := make([]byte, v.Get("byteLength").Int())
	js.CopyBytesToGo(b, v)
	return b, nil
}
