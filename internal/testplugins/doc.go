// Package testplugins is for tests only. It holds the plugins the host's, the SDK's and the CLI's
// tests launch: pebbleplugin, a real plugin serving pebble, and
// deliberately bad ones — notaplugin (not a plugin at all), crashplugin
// (dies before the handshake), otherproto (speaks another protocol
// version), badplugin (a plugin whose store breaks the contract),
// liarplugin (a plugin whose answers no correct store gives),
// muteplugin (completes the handshake, then never answers), specplugin
// (declares an option the SDK would refuse) and lazyplugin (declares
// durable, but writes its data only when closed). nsplugin keeps its
// data where a database plugin would, behind a namespace option.
// Build builds them for a test.
package testplugins
