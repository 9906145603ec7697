#!/bin/sh
# Regenerates the Python code of the plugin's protocols (gen/**/*_pb2*.py)
# from netabase's storage protocol, versions 1 and 3
# (plugins/proto/netabase/storage/v{1,2,3}/storage.proto: version 3 imports
# version 2's messages, so it is generated too), and the two go-plugin
# services in proto/. The storage protocols keep their paths under
# plugins/proto (gen/netabase/storage/v1/storage_pb2.py, ...), because
# version 3's generated code imports version 1's and 2's by those paths. It
# uses Debian's python3-grpc-tools with the system interpreter, so that the
# code matches Debian's python3-protobuf and python3-grpcio, which the
# plugin runs on.
#
#   apt-get install python3-grpc-tools
#   ./generate.sh [outdir]     (default: gen/ beside this script)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/gen}
mkdir -p "$out"
/usr/bin/python3 -m grpc_tools.protoc \
	-I "$here/../../plugins/proto" -I "$here/proto" \
	--python_out="$out" --grpc_python_out="$out" \
	netabase/storage/v1/storage.proto netabase/storage/v2/storage.proto netabase/storage/v3/storage.proto \
	controller.proto health.proto
echo "regenerated $out" >&2
