// Package server owns the port-53 front end: the UDP and TCP listeners
// (and DNS over TLS, HTTPS and QUIC), the client access list, EDNS,
// truncation, the limits that keep a busy or hostile client from starving
// the others, and the one mapping of engine
// errors to RCODEs. It turns wire queries into calls of a Backend (the
// resolver) and knows nothing of iteration.
//
// Every query, from a socket or from an in-process caller (Handle,
// HandlePacket), takes the same path: checks and the cache inline on the
// reading goroutine, then, on a cache miss, the engine on a goroutine of its
// own, bounded by MaxInFlight and MaxPerClient.
//
// How queries are answered, and why:
//
//   - A message with QR set is never answered (no loops between servers).
//   - Access control (acl.go), as Unbound's access-control: the longest
//     prefix of Config.Allow (allow) and Config.AccessControl holding the
//     client picks its action. refuse, and clients no rule holds: REFUSED
//     with EDE 18 (Prohibited). deny: no answer at all (a REFUSED to a
//     spoofed source would reflect); a TCP connection is closed unread.
//     refuse_non_local and deny_non_local: so, except for questions
//     Config.Local says are local data. The default allows loopback only;
//     unlike Unbound, naming any rule drops that default.
//   - Bytes shorter than a header get nothing; a parsable header with a bad
//     body gets FORMERR without question or EDNS. QDCOUNT other than 1, more
//     than one OPT, or an OPT outside the additional section: FORMERR.
//   - Opcodes other than QUERY: NOTIMP. EDNS version above 0: BADVERS.
//   - CHAOS TXT id.server and hostname.bind: Config.Identity;
//     version.server and version.bind: Config.Version; TTL 0. Hidden (the
//     default, empty), a bare REFUSED, as Unbound's hide-identity answers.
//   - Any other CHAOS question, and classes other than IN and CHAOS:
//     REFUSED (EDE 21, Not Supported).
//   - AXFR and IXFR: REFUSED (EDE 21), as Unbound does. MAILA, MAILB, TKEY,
//     TSIG and the unassigned meta types: NOTIMP (RFC 6895 3.1). Type 0 and
//     OPT as the question: FORMERR.
//   - ANY: one synthesised HINFO "RFC8482" "" (RFC 8482 4.2), without
//     asking the engine.
//   - RD clear, from an allow client: REFUSED with EDE 20 (Not
//     Authoritative), as Unbound's allow does: answering from the cache
//     would show anyone what others asked (cache snooping). Local data
//     (Config.Local) is still answered.
//   - RD clear, from an allow_snoop client: the cache alone
//     (ResolveCached); failing that, a referral to the closest enclosing
//     zone whose NS set is cached (read from the engine's RRset cache when
//     the Backend is a CacheBackend: the engine keeps delegations below
//     the answer rank), with its servers' cached addresses (AD when the NS
//     set validated), as Unbound hands out; with none, REFUSED with EDE 20.
//   - An engine error: SERVFAIL with the EDE of resolver.ExtendedError. A
//     query over a limit is dropped over UDP (the client retries, and an
//     answer would aid reflection) and gets SERVFAIL over TCP.
//   - Responses carry RA, the client's RD and CD, and the question exactly as
//     asked (its case too). EDNS is answered only when the query used it,
//     with our buffer size (MaxUDPSize, 1232) and the client's DO bit, and
//     NSID (RFC 5001, Config.NSID) only when the query carried the option.
//   - With Config.LogQueries each query is logged at Info with its flags
//     (rd, do, cd), rcode, EDE and response size; with LogServfail each
//     SERVFAIL at Info with its reason (Debug otherwise).
//   - UDP answers larger than the client's buffer (512 without EDNS, else the
//     lesser of its size and ours) are truncated between RRsets with TC set.
//   - TCP (RFC 7766): many queries per connection, answered concurrently and
//     in the order they complete; a connection is closed when it sends no
//     complete query for TCPIdleTimeout (a slow trickle included) and has
//     none outstanding. At MaxTCPConns the longest-idle connection gives way.
//
// Encrypted transports (tls.go, doh.go, doq.go), each off until
// EncryptedConfig names a listen address, feed the same path:
//
//   - DNS over TLS (RFC 7858) is the TCP front end over a TLS listener:
//     the same pipelining, idle timeout and MaxTCPConns; a handshake
//     longer than HandshakeTimeout closes the connection.
//   - DNS over HTTPS (RFC 8484): /dns-query, GET ?dns= and POST
//     application/dns-message, HTTP/2 and HTTP/1.1, Cache-Control max-age
//     from the smallest TTL; HTTPSPlain drops TLS for a proxy in front,
//     whose Forwarded/X-Forwarded-For names the client only when the
//     proxy is in HTTPSTrustedProxies. DoH queries are TCP-like (no
//     truncation).
//   - DNS over QUIC (RFC 9250): ALPN doq, one query per stream, ID 0;
//     protocol errors close the connection with DOQ_PROTOCOL_ERROR, and
//     past MaxQUICConns new connections get DOQ_EXCESSIVE_LOAD.
//   - Answers to padded queries are padded to 468-byte blocks (RFC 8467)
//     on these three; edns-tcp-keepalive (RFC 7828) is answered on TCP
//     and TLS. Both are added to the packed answer, outside the UDP path
//     and the answer cache.
//   - Certificates come from GetCertificate at each handshake, so a
//     CertStore reload changes them without closing connections.
//
// Each listen address gets Config.Threads UDP sockets and TCP listeners
// (default GOMAXPROCS; one elsewhere than Linux) sharing the port with
// SO_REUSEPORT, so that the kernel spreads the clients over sockets read
// by goroutines of their own (listen.go). An answer cache hit takes no
// lock and writes no line that other cores write (answers.go, the striped
// counters of Stats).
//
// On 64-bit Linux each UDP reader takes every query waiting with one
// recvmmsg and sends the cache hits' answers with one sendmmsg; a datagram
// longer than 4 KB cannot be read whole there and gets FORMERR.
//
// A question the engine's cache answered is kept as the packed reply in an
// answer cache (answers.go) for up to its shortest TTL. The next query
// with the same question bytes and a plain shape (EDNS options at most a
// cookie or padding, which the slow path ignores: a query asking for
// NSID goes the slow way) from a client whose action allows it (RD set,
// or allow_snoop) is answered by copying
// it and patching ID, RD, CD, TTLs and OPT: byte for byte what the slow
// path would send, with no allocation. Anything else, including a reply
// that would need truncation, takes the slow path.
//
// A wildcard listen address (0.0.0.0, ::) serves every local address of its
// family; on Linux, UDP replies leave from the address each query was sent
// to (IP_PKTINFO), as clients require.
package server
