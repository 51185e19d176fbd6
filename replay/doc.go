// Package replay owns the scenario harness: it parses the .rpl scenario
// files of two peer resolvers' test suites (Deckard's and Unbound's
// testbound, two dialects of one format), maps their configuration onto the
// engine's, and replays them in-process: a fake network answers the engine's
// upstream queries from the file's canned ranges, an injected clock stands
// for time, and client queries go through the port-53 server's own packet
// path (server.HandlePacket). Nothing here opens a socket.
//
// Run must be called inside a testing/synctest bubble: the harness tells
// "the engine is waiting for the network" from "the engine is still working"
// with synctest.Wait, and engine timeouts then cost no wall-clock time.
//
// The dialect comes from the file's folder (deckard/ or unbound/):
//
//   - Deckard: each query is answered before the next step; ranges are
//     picked by the QUERY step's number, the first eligible range in file
//     order answers (SERVFAIL when none of its entries match), REPLY steps
//     are one-shot answers when no range covers the step, and a query
//     nothing scripted answers fails the file at the end. CHECK_OUT_QUERY
//     is skipped, as Deckard does. Files that do not pin QNAME
//     minimisation run twice (Variants).
//   - Unbound: testbound's event loop. Outgoing queries stay pending until
//     a range of the current step (the step after the QUERY, last range
//     first), a REPLY or a TIMEOUT step (both act on the newest pending
//     query) handles them; CHECK_ANSWER takes any unchecked answer; queries
//     still pending or answers never checked at the end fail the file.
//
// A config key the engine cannot honour fails the file with an
// *UnsupportedError naming it, unless Options.RunUnsupported asks to run
// it anyway (it still fails, saying how the run went).
//
// DNSSEC: trust-anchor, domain-insecure, aggressive-nsec and module-config
// map onto resolver.DNSSECConfig; validation is on only in files that name
// an anchor. Replays verify DSA and RSA under 1024 bits
// (dnssec.Limits.AllowWeak, test only). The parser turns DSA signatures
// written in DER, as Unbound's old files have them, into the RFC 2536 form,
// and sorts NSEC/NSEC3 type bitmaps.
//
// The suites run from TestScenarios (make test, make scenarios); see
// expectations.txt for the files that do not pass yet. Flags: -scenarios
// DIR, -set iter,dnssec (a comma list; with one set, subtests are named
// files/deckard/NAME), -update (rewrite expectations.txt), -force
// (RunUnsupported), -events (log every exchange), -stream (events to stderr
// as they happen), -filetimeout.
package replay
