package main

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The runner works inside a network namespace of its own (bench.sh starts
// it with `unshare --net`) whose only interface is loopback: nothing it
// starts can reach any other address, whatever a resolver decides to do.
//
// Inside, the authoritative servers listen on a high port, but Unbound can
// only send to port 53 (the port of glue addresses is fixed at build
// time). A stateless nftables rule therefore rewrites the destination port
// of packets to 127.53.0.0/16:53 to the NSD port (or to the delay proxy's),
// and the source port of their replies back to 53. Both resolvers are told
// port 53, so they take the same path. No connection tracking is involved,
// so the kernel keeps no per-query state and client traffic is untouched.
// The same rules count every upstream query, for both resolvers alike.

// checkIsolated fails unless every network interface is a loopback one.
func checkIsolated() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	var others []string
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			others = append(others, i.Name)
		}
	}
	if len(others) > 0 {
		return fmt.Errorf("network interfaces %v are not loopback: run through bench/bench.sh, which starts this in a private network namespace (unshare --net)", others)
	}
	return nil
}

const nftTable = "bench_upstream"

// nftRules returns the ruleset: upstream queries to port 53 go to
// targetPort; replies from any of replyPorts to 127.0.0.1 appear to come
// from port 53. The "queries" chain is rewritten to switch targetPort.
func nftRules(targetPort uint16, replyPorts []uint16) string {
	ports := make([]string, len(replyPorts))
	for i, p := range replyPorts {
		ports[i] = strconv.Itoa(int(p))
	}
	set := "{ " + strings.Join(ports, ", ") + " }"
	return fmt.Sprintf(`table ip %[1]s {
	counter upstream_udp {}
	counter upstream_tcp_syn {}
	chain queries {
		type filter hook output priority 0; policy accept;
%[2]s	}
	chain replies {
		type filter hook output priority 1; policy accept;
		ip saddr 127.53.0.0/16 ip daddr 127.0.0.1 udp sport %[3]s udp sport set 53
		ip saddr 127.53.0.0/16 ip daddr 127.0.0.1 tcp sport %[3]s tcp sport set 53
	}
}
`, nftTable, fwdRules(targetPort), set)
}

func fwdRules(targetPort uint16) string {
	return fmt.Sprintf(`		ip daddr 127.53.0.0/16 udp dport 53 counter name upstream_udp udp dport set %[1]d
		ip daddr 127.53.0.0/16 tcp dport 53 tcp flags & (syn | ack) == syn counter name upstream_tcp_syn
		ip daddr 127.53.0.0/16 tcp dport 53 tcp dport set %[1]d
`, targetPort)
}

// setupLoopback brings lo up and installs the rules.
func setupLoopback(ctx context.Context, targetPort uint16, replyPorts []uint16) error {
	if _, _, err := runOutput(ctx, 10*time.Second, []string{"ip", "link", "set", "lo", "up"}); err != nil {
		return err
	}
	return nftApply(ctx, nftRules(targetPort, replyPorts))
}

// retarget points upstream queries at another port (NSD or the proxy).
func retarget(ctx context.Context, targetPort uint16) error {
	var b strings.Builder
	fmt.Fprintf(&b, "flush chain ip %s queries\n", nftTable)
	for _, line := range strings.Split(strings.TrimSpace(fwdRules(targetPort)), "\n") {
		fmt.Fprintf(&b, "add rule ip %s queries %s\n", nftTable, strings.TrimSpace(line))
	}
	return nftApply(ctx, b.String())
}

func nftApply(ctx context.Context, rules string) error {
	_, _, err := runInput(ctx, 10*time.Second, rules, []string{"nft", "-f", "-"})
	return err
}

// upstreamQueries returns the queries sent to the authoritative servers so
// far: UDP datagrams plus TCP connections opened.
func upstreamQueries(ctx context.Context) (int64, error) {
	out, _, err := runOutput(ctx, 10*time.Second, []string{"nft", "list", "counters", "table", "ip", nftTable})
	if err != nil {
		return 0, err
	}
	return parseCounters(out)
}

var counterPackets = regexp.MustCompile(`counter\s+(\S+)\s*\{\s*packets\s+(\d+)`)

// parseCounters sums the packet counts of `nft list counters` output.
func parseCounters(out string) (int64, error) {
	m := counterPackets.FindAllStringSubmatch(out, -1)
	if len(m) != 2 {
		return 0, fmt.Errorf("nft counters: want 2, found %d in %q", len(m), out)
	}
	var total int64
	for _, c := range m {
		n, err := strconv.ParseInt(c[2], 10, 64)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}
