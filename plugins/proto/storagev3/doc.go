// Package storagev3 is the generated Go code of netabase's storage plugin
// protocol, version 3, netabase.storage.v3
// (../netabase/storage/v3/storage.proto). It reuses the messages of
// versions 1 and 2 (packages storagev1 and storagev2); the frames its
// messages carry are encoded by plugins/wire (FRAMES.md). Do not edit the
// generated files: change the .proto and run ../generate.sh, which needs
// only Go. A test in storagev1 fails when the files here are stale against
// the .proto.
package storagev3
