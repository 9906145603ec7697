//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "this program runs in a web page: build it with GOOS=js GOARCH=wasm (backends/idbstore's browser test does)")
	os.Exit(2)
}
