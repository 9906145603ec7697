#!/usr/bin/env bash
# The README's test command. It installs the Debian packages that some tests
# need when they are missing (Python's gRPC for the Python plugin, PostgreSQL
# for the PostgreSQL plugin, Chromium for the browser tests, Node.js for the
# js/wasm tests), then runs every test with none of them skipped, and the
# tests of the packages meant for the browser again under js/wasm. Arguments
# go to `go test` (for example -run).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(python3-grpcio python3-protobuf python3-cryptography python3-grpc-tools postgresql chromium nodejs)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	sudo=
	[ "$(id -u)" = 0 ] || sudo=sudo
	echo "installing ${missing[*]}" >&2
	$sudo apt-get update -q
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

# Tests that need those packages fail instead of skipping when this is set.
export NETABASE_SYSTEM_TESTS=1
go test "$@" ./...

# The packages meant for the browser, built for js/wasm and run under Node.js
# with Go's wasm runner. js/wasm runs one thread without preemption, so a test
# that spins instead of blocking hangs there: the outer timeout ends it.
wasm_exec="$(go env GOROOT)/lib/wasm/go_js_wasm_exec"
GOOS=js GOARCH=wasm timeout 20m go test -timeout 15m -exec="$wasm_exec" "$@" \
	./core ./core/envelope ./core/model ./backends/memstore ./backends/idbstore ./conformance ./core/gateway/gatewayclient
