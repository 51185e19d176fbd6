#!/usr/bin/env bash
# make bench: recursor vs Unbound over a generated NSD zone tree, on
# loopback only. Installs what it lacks (as root), builds the tools, then
# runs bench/run inside a private network namespace whose only interface is
# loopback, so no packet can leave this machine. BENCH_QUICK=1 for a short
# smoke run. Output: the table on stdout and in bench/out/latest.md.
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
GO="${GO:-go}"

# ldnsutils signs the signed variant's tree; knot-dnsutils (kdig) checks AD.
pkgs="dnsperf nsd unbound nftables util-linux iproute2 ldnsutils knot-dnsutils"
need=()
for bin in /usr/sbin/nsd /usr/sbin/unbound /usr/sbin/unbound-checkconf /usr/bin/dnsperf /usr/sbin/nft /usr/bin/unshare /usr/bin/taskset /usr/sbin/ip \
	/usr/bin/ldns-keygen /usr/bin/ldns-signzone /usr/bin/kdig; do
	[ -x "$bin" ] || need+=("$bin")
done
if [ "${#need[@]}" -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "bench: missing ${need[*]}; as root run: apt-get install -y $pkgs" >&2
		exit 1
	fi
	echo "bench: installing $pkgs (missing: ${need[*]})" >&2
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086 # a list of package names
	apt-get install -y -q $pkgs >/dev/null ||
		{ apt-get update -q >/dev/null && apt-get install -y -q $pkgs >/dev/null; }
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (a private network namespace and nftables rules); run it as root" >&2
	exit 1
fi

# Trees left behind by runs that were killed (the runner removes its own).
find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'recursor-bench-*' -mmin +60 -exec rm -rf {} + 2>/dev/null || true

mkdir -p bench/out/bin
"$GO" build -o bench/out/bin/run ./bench/run
"$GO" build -o bench/out/bin/delayproxy ./bench/delayproxy
"$GO" build -o bench/out/bin/floor ./bench/floor

# Our column shows n/a, with the reason, when the server does not build.
recursor_error=""
if ! build_log=$(make -s build GO="$GO" 2>&1); then
	recursor_error="make build failed: $(printf '%s' "$build_log" | tail -n 3 | tr '\n' ' ')"
	echo "bench: $recursor_error" >&2
fi

args=(-recursor bin/recursor -recursor-error "$recursor_error" -delayproxy bench/out/bin/delayproxy)
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	args+=(-quick)
fi
# Bounded: the runner stops itself (9.5 min full, 4 min quick); timeout is
# the backstop. --kill-child ends the runner if unshare is killed.
# The runner itself (it reads every dnsperf -v line) stays on the load CPU,
# away from the resolver's; it pins the children itself.
pin=()
if [ "$(nproc --all)" -ge 2 ]; then
	pin=(taskset -c 0)
fi
status=0
timeout -k 10 600 unshare --net --kill-child -- "${pin[@]}" bench/out/bin/run "${args[@]}" "$@" || status=$?

# Issue 15's targets: cache hits over DNS over TLS against Unbound's
# (dnsperf -m dot, bench/dot.sh, bounded by its own timeout), and the cost
# of DNS cookies on the UDP hit path (Go benchmarks, without and with).
# BENCH_EXTRAS=0 leaves them out (two minutes, when only the table counts).
if [ "${BENCH_EXTRAS:-1}" = 0 ]; then
	exit $status
fi
echo
echo "== DNS over TLS, cache hits: recursor and Unbound (bench/dot.sh)"
dot_seconds=10
if [ "${BENCH_QUICK:-0}" = 1 ]; then
	dot_seconds=3
fi
DOT_MODES=${BENCH_DOT_MODES:-dot} DOT_SECONDS=$dot_seconds GO="$GO" bash bench/dot.sh || status=$?
echo
echo "== DNS cookies on the UDP cache-hit path (go test ./server -bench Cookie)"
"$GO" test ./server -run '^$' -bench 'CacheHitCookie|UDPRoundTripCookie' -benchtime "${BENCH_COOKIE_TIME:-2s}" -count 3 || status=$?
exit $status
