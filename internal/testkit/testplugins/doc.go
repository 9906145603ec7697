// Package testplugins is for tests only. It holds the plugins the host's, the SDK's and the CLI's
// tests launch: pebbleplugin, a real plugin serving pebble, pebblev1plugin,
// the same serving only version 1 of the protocol, and
// deliberately bad ones — notaplugin (not a plugin at all), crashplugin
// (dies before the handshake), otherproto (speaks another protocol
// version), badplugin (a plugin whose store breaks the contract),
// liarplugin (a plugin whose answers no correct store gives),
// muteplugin (completes the handshake, then never answers), specplugin
// (declares an option the SDK would refuse), lazyplugin (declares
// durable, but writes its data only when closed) and partialplugin
// (protocol versions 2 and 3: applies half of each commit, and says so or claims
// all of it). nsplugin keeps its data where a database plugin would,
// behind a namespace option.
// Build builds them for a test.
package testplugins
