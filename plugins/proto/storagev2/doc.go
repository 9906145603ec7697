// Package storagev2 is the generated Go code of netabase's storage plugin
// protocol, version 2, netabase.storage.v2
// (../netabase/storage/v2/storage.proto). It reuses the messages of
// version 1 (package storagev1). Do not edit the generated files: change
// the .proto and run ../generate.sh, which needs only Go. A test in
// storagev1 fails when the files here are stale against the .proto.
package storagev2
