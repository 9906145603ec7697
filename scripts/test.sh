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
# Without apt-get (another distribution, macOS), the script cannot install
# them: it says what to install and runs what can run, those tests skipping
# with a message, and exits 1 at the end, since not every test ran.
incomplete=
if ((${#missing[@]})); then
	if command -v apt-get >/dev/null; then
		sudo=
		[ "$(id -u)" = 0 ] || sudo=sudo
		echo "installing ${missing[*]}" >&2
		$sudo apt-get update -q
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
	else
		incomplete="this machine has no apt-get, so scripts/test.sh cannot install the Debian packages ${missing[*]}.
Install their equivalents with your package manager: Python 3 with the grpcio,
grpcio-tools, protobuf and cryptography modules; PostgreSQL 15 or later (initdb
and postgres on PATH); Chromium; Node.js. Then run scripts/test.sh again."
		echo "netabase: $incomplete" >&2
		echo "netabase: running the tests that need none of them; the others skip." >&2
	fi
fi

# Tests that need those packages fail instead of skipping when this is set.
[ -n "$incomplete" ] || export NETABASE_SYSTEM_TESTS=1
go test "$@" ./...

# The packages meant for the browser, built for js/wasm and run under Node.js
# with Go's wasm runner. js/wasm runs one thread without preemption, so a test
# that spins instead of blocking hangs there: the outer timeout ends it.
wasm_exec="$(go env GOROOT)/lib/wasm/go_js_wasm_exec"
if command -v node >/dev/null; then
	GOOS=js GOARCH=wasm timeout 20m go test -timeout 15m -exec="$wasm_exec" "$@" \
		./core ./core/envelope ./core/apijson ./core/model ./backends/memstore ./backends/idbstore ./conformance ./core/gateway/gatewayclient ./core/page
else
	echo "netabase: Node.js is missing, so the js/wasm tests did not run." >&2
	incomplete=${incomplete:-Node.js is missing}
fi

if [ -n "$incomplete" ]; then
	echo "netabase: the tests that ran passed, but not all of them ran: $incomplete" >&2
	exit 1
fi
