#!/bin/sh
# Regenerates the Python code of the plugin's protocols (gen/*_pb2*.py) from
# netabase's storage protocol (plugins/proto/netabase/storage/v1/storage.proto)
# and the two go-plugin services in proto/. It uses Debian's
# python3-grpc-tools with the system interpreter, so that the code matches
# Debian's python3-protobuf and python3-grpcio, which the plugin runs on.
#
#   apt-get install python3-grpc-tools
#   ./generate.sh [outdir]     (default: gen/ beside this script)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/gen}
mkdir -p "$out"
/usr/bin/python3 -m grpc_tools.protoc \
	-I "$here/../../plugins/proto/netabase/storage/v1" -I "$here/proto" \
	--python_out="$out" --grpc_python_out="$out" \
	storage.proto controller.proto health.proto
echo "regenerated $out" >&2
