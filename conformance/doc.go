// Package conformance is the suite every netabase backend must pass before a
// node accepts it: the in-tree adapters, and plugins across the gRPC hop.
//
// The suite is a table of cases. Each case opens a fresh, empty store from a
// [Harness], checks one rule, and reports an error naming what went wrong.
// Cases never depend on each other or on their order. A case that needs a
// capability the harness does not declare is skipped, and a declared
// capability is always checked.
//
// [Check] runs the table and returns a [Report], which is what the node's
// admission gate and `netabase conformance` use; [CheckCase] runs one case.
// The package does not import testing: package conformancetest turns the
// table into subtests of a go test (conformancetest.Run) and measures a
// backend (conformancetest.RunBenchmarks).
//
// # Writing a harness
//
// A harness hands out scratch instances. For a backend opened by URL,
// [URLHarness] does it from a core.Driver and a URL: every driver makes its
// scratch stores and removes them (core.Driver's Scratch, which for an
// in-tree engine built with core.NewDriver needs no code of its own), and
// [CrashDriver] is the one optional extension. A test of an adapter
// usually writes its own harness in a few lines around t.TempDir().
//
// # Durability
//
// A backend that declares Durable promises that what a successful Sync
// covered survives a crash. Closing and reopening a store cannot show that,
// so the durable case crashes one: it runs only on an instance that
// implements [Crasher], and otherwise is skipped with a report saying that
// durability was not checked by a crash. URLHarness's instances are
// Crashers when their driver is a [CrashDriver]: the plugin driver
// (plugins/host) is one, and kills the plugin's process, so admission and
// `netabase conformance` check a plugin's durability. An in-process engine
// runs in the node's own process, which the suite cannot kill, so at a
// node's admission its durable case is skipped; in go test, a crash driver
// (package conformance/crashdriver) holds its stores in a child process and
// kills it, so the durable case runs there.
package conformance
