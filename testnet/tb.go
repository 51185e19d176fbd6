package testnet

import "errors"

// TB is the part of testing.TB that this package's helpers use, so that a
// binary importing testnet for its sandbox does not link package testing.
// A *testing.T, *testing.B or *testing.F is one.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
	Cleanup(func())
}

// StartTB starts the in-process sandbox in dir for a test and closes it
// when the test ends.
func StartTB(tb TB, dir string) *Network {
	tb.Helper()
	n, err := Start(Config{Dir: dir})
	if err != nil {
		tb.Fatalf("testnet: %v", err)
	}
	tb.Cleanup(func() {
		if err := n.Close(); err != nil {
			tb.Errorf("testnet: close: %v", err)
		}
	})
	return n
}

// StartNSDTB starts the sandbox in dir on NSD for a test, and closes it when
// the test ends. It skips the test when nsd is not installed.
func StartNSDTB(tb TB, dir string) *NSDNetwork {
	tb.Helper()
	n, err := StartNSD(Config{Dir: dir})
	if errors.Is(err, ErrNSDNotFound) {
		tb.Skipf("skipping: %v (Debian package nsd)", err)
	}
	if err != nil {
		tb.Fatalf("testnet: %v", err)
	}
	tb.Cleanup(func() {
		if err := n.Close(); err != nil {
			tb.Errorf("testnet: close nsd: %v", err)
		}
	})
	return n
}
