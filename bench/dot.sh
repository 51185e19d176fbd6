#!/usr/bin/env bash
# bench/dot.sh: cache-hit throughput and CPU per hit over DNS over TLS (and
# DNS over HTTPS) with dnsperf, recursor next to Unbound on one certificate.
#
#   bash bench/dot.sh                      # DoT and DoH, 10 s per run
#   DOT_SECONDS=3 bash bench/dot.sh        # a smoke run
#   DOT_MODES=dot bash bench/dot.sh        # DoT only
#
# recursor serves its built-in sandbox; Unbound forwards "." to recursor's
# UDP port, so after one warm-up pass both answer every query from their
# caches. Each resolver is pinned to the last CPU (one thread: Unbound's
# num-threads 1, Go's GOMAXPROCS follows the affinity) and dnsperf to
# CPU 0. CPU per hit is the resolver's user+system time over the queries
# dnsperf completed. Everything listens on 127.0.0.1; as root the whole run
# is inside a private network namespace (unshare --net) whose only
# interface is loopback. Bounded: DOT_SECONDS per dnsperf run, and the
# whole script by `timeout` (DOT_TIMEOUT, default 300 s).
set -euo pipefail

SECONDS_PER_RUN=${DOT_SECONDS:-10}
MODES=${DOT_MODES:-dot doh}
CLIENTS=${DOT_CLIENTS:-8}     # dnsperf -c: connections
OUTSTANDING=${DOT_OUTSTANDING:-100}

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

if [[ "${DOT_INNER:-}" != 1 ]]; then
	for bin in dnsperf unbound openssl; do
		command -v "$bin" >/dev/null || { echo "dot.sh: $bin is not installed (apt-get install dnsperf unbound openssl)" >&2; exit 1; }
	done
	(cd "$root" && ${GO:-go} build -o bin/recursor ./cmd/recursor)
	export DOT_INNER=1
	if [[ $(id -u) == 0 ]] && command -v unshare >/dev/null; then
		exec timeout "${DOT_TIMEOUT:-300}" unshare --net bash "$0" "$@"
	fi
	exec timeout "${DOT_TIMEOUT:-300}" bash "$0" "$@"
fi

if [[ $(id -u) == 0 ]]; then
	ip link set lo up 2>/dev/null || true
fi
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

ncpu=$(nproc)
rcpu=$((ncpu - 1))
pin_resolver=(taskset -c "$rcpu")
pin_client=(taskset -c 0)
if [[ $ncpu -lt 2 ]] || ! command -v taskset >/dev/null; then
	pin_resolver=()
	pin_client=()
fi

# One self-signed certificate for both, made now (never committed).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
	-keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

# Names of the sandbox that answer NOERROR with data (testdata/sandbox/CASES.md).
cat >"$work/queries" <<'EOF'
www.example.com A
www.example.com AAAA
example.com MX
example.com TXT
www.example.net A
www.example.net AAAA
www.example.org A
alias.example.com A
www.alpha.lab A
www.beta.lab A
EOF

# Ports: recursor 25353 (UDP/TCP), 25853 (DoT), 25443 (DoH); Unbound 26353,
# 26853, 26443.
"${pin_resolver[@]}" "$root/bin/recursor" serve --sandbox --listen 127.0.0.1:25353 \
	--tls-listen 127.0.0.1:25853 --https-listen 127.0.0.1:25443 \
	--tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
	--max-tcp-conns 1024 --allow-root 2>"$work/recursor.log" &
rpid=$!
pids+=("$rpid")

cat >"$work/unbound.conf" <<EOF
server:
	interface: 127.0.0.1@26353
	interface: 127.0.0.1@26853
	interface: 127.0.0.1@26443
	port: 26353
	tls-port: 26853
	https-port: 26443
	tls-service-key: "$work/key.pem"
	tls-service-pem: "$work/cert.pem"
	do-daemonize: no
	username: ""
	chroot: ""
	directory: "$work"
	pidfile: "$work/unbound.pid"
	use-syslog: no
	logfile: ""
	verbosity: 0
	num-threads: 1
	module-config: "iterator"
	do-ip6: no
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	incoming-num-tcp: 1024
	msg-cache-size: 64m
	rrset-cache-size: 64m
remote-control:
	control-enable: no
forward-zone:
	name: "."
	forward-addr: 127.0.0.1@25353
EOF
"${pin_resolver[@]}" unbound -d -c "$work/unbound.conf" 2>"$work/unbound.log" &
upid=$!
pids+=("$upid")

# Wait for both to answer over UDP, then warm the caches.
for port in 25353 26353; do
	for _ in $(seq 100); do
		if dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" www.example.com A 2>/dev/null | grep -q .; then
			break
		fi
		sleep 0.1
	done
	dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries" -n 2 >/dev/null 2>&1
done

for p in "$rpid" "$upid"; do
	if ! kill -0 "$p" 2>/dev/null; then
		echo "dot.sh: a resolver did not start:" >&2
		cat "$work/recursor.log" "$work/unbound.log" >&2
		exit 1
	fi
done

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run NAME PID MODE PORT: one bounded dnsperf run; prints a table row.
run() {
	local name=$1 pid=$2 mode=$3 port=$4 extra=()
	if [[ $mode == doh ]]; then
		extra=(-O "doh-uri=https://127.0.0.1:$port/dns-query" -O "doh-method=${DOT_DOH_METHOD:-GET}")
	fi
	local before after out completed qps
	before=$(cpu_ticks "$pid")
	out=$("${pin_client[@]}" dnsperf -m "$mode" -s 127.0.0.1 -p "$port" -d "$work/queries" \
		-l "$SECONDS_PER_RUN" -c "$CLIENTS" -q "$OUTSTANDING" "${extra[@]}" 2>&1) || true
	after=$(cpu_ticks "$pid")
	completed=$(awk '/Queries completed:/ {print $3}' <<<"$out")
	qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
	if [[ -z $completed || $completed == 0 ]]; then
		echo "| $mode | $name | no queries completed | | |"
		echo "$out" >"$work/$name-$mode.dnsperf"
		return
	fi
	awk -v n="$name" -v m="$mode" -v c="$completed" -v q="$qps" -v t=$((after - before)) -v clk="$clk" \
		'BEGIN { printf "| %s | %s | %.0f | %d | %.1f |\n", m, n, q, c, (t / clk) * 1e6 / c }'
}

echo "DoT/DoH cache hits: ${SECONDS_PER_RUN}s per run, $CLIENTS connections, $OUTSTANDING outstanding, resolver on CPU $rcpu"
echo
echo "| mode | resolver | queries/s | completed | CPU µs per hit |"
echo "|---|---|---|---|---|"
for mode in $MODES; do
	case $mode in
	dot) rport=25853 uport=26853 ;;
	doh) rport=25443 uport=26443 ;;
	*) echo "dot.sh: mode $mode: want dot or doh" >&2; exit 2 ;;
	esac
	run recursor "$rpid" "$mode" "$rport"
	run unbound "$upid" "$mode" "$uport"
done
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
