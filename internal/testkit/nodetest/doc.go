// Package nodetest is the kit of the tests that start nodes: a certificate
// cache that a test binary's nodes share, so that the admission gate runs
// the conformance suite once per backend rather than once per node
// ([Main]); a loopback node's [Config] and [Start]; a test's [Context]; and
// [Eventually], which polls a condition until the context ends. Wait and
// Context build for js/wasm too, for the tests that run in a browser.
package nodetest
