//go:build js && wasm

package idbstore

import (
	"context"
	"errors"
	"fmt"
	"syscall/js"
)

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
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

// goBytes copies v, an ArrayBuffer or a view of one, into a new slice.
func goBytes(v js.Value) ([]byte, error) {
	if v.IsUndefined() || v.IsNull() {
		return nil, errors.New("IndexedDB returned no bytes")
	}
	if !v.InstanceOf(js.Global().Get("Uint8Array")) {
		if !v.InstanceOf(js.Global().Get("ArrayBuffer")) {
			return nil, fmt.Errorf("IndexedDB holds a %s where bytes were stored", v.Type())
		}
		v = js.Global().Get("Uint8Array").New(v)
	}
	b := make([]byte, v.Get("byteLength").Int())
	js.CopyBytesToGo(b, v)
	return b, nil
}
