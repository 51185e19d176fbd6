// Package replay owns the scenario harness: it parses the .rpl scenario
// files of two peer resolvers' test suites (Deckard's and Unbound's
// testbound, two dialects of one format), maps their configuration onto the
// engine's, and replays them in-process: a fake network answers the engine's
// upstream queries from the file's canned ranges, an injected clock stands
// for time, and client queries go through the same entry point as the
// port-53 server. Nothing here opens a socket.
//
// Run must be called inside a testing/synctest bubble: the harness tells
// "the engine is waiting for the network" from "the engine is still working"
// with synctest.Wait, and engine timeouts then cost no wall-clock time.
package replay
