// Package storagev1 is the generated Go code of netabase's storage plugin
// protocol, netabase.storage.v1 (../netabase/storage/v1/storage.proto).
// Do not edit the generated files: change the .proto and run
// ../generate.sh, which needs only Go. A test fails when the files here are
// stale against the .proto.
package storagev1
