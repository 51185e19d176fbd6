// Command floor is the least a Go UDP DNS server can do per query: it
// answers every query with its own question and no records, reading and
// writing as recursor's server does (recvmmsg and sendmmsg, one batch a
// wake-up, waiting in the Go poller) and doing no DNS work at all. make
// bench measures its CPU per query in the same slices as the resolvers',
// so that the table shows how much of a cache hit's cost is the runtime
// and the kernel, which no resolver code can remove.
//
//	floor -listen 127.0.0.1:5303
//
// It serves loopback addresses only and runs until interrupted.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:5303", "loopback ADDR:PORT to answer on")
	flag.Parse()
	if err := run(*listen); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func run(listen string) error {
	ap, err := netip.ParseAddrPort(listen)
	if err != nil {
		return err
	}
	if !ap.Addr().IsLoopback() {
		return fmt.Errorf("-listen %s: loopback addresses only", ap)
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return err
	}
	defer conn.Close()
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	return serve(raw)
}

// reply turns the query in b into its answer in place: QR and RA set, no
// records beyond the question (an OPT record, if any, goes back as sent).
// It reports false for what is too short to be a DNS header.
func reply(b []byte) bool {
	if len(b) < 12 {
		return false
	}
	b[2] |= 0x80 // QR
	b[3] = 0x80  // RA, RCODE NOERROR
	return true
}

var errUnsupported = errors.New("recvmmsg and sendmmsg need 64-bit Linux")
