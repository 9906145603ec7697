// Package conformancetest runs the conformance suite inside go test: [Run]
// makes each case a subtest, [RunBenchmarks] measures a backend.
//
// It is apart from package conformance so that the suite itself does not
// import the testing package: a node's admission gate and the CLI run it
// through conformance.Check, and a program that embeds a node does not link
// testing because of it.
package conformancetest
