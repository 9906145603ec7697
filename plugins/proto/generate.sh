#!/bin/sh
# Regenerates the Go code of netabase's plugin protocol (storagev1/*.pb.go, storagev2/*.pb.go, storagev3/*.pb.go)
# from netabase/storage/v{1,2,3}/*.proto. It needs only Go: the generator in gen/
# compiles the .proto files with protocompile and runs protoc-gen-go and
# protoc-gen-go-grpc at the versions pinned in gen/go.mod, downloading them
# through the Go module proxy on first use.
set -eu
cd "$(dirname "$0")/gen"
go run . -out ..
echo "regenerated $(cd .. && pwd)/storagev1, storagev2 and storagev3"
