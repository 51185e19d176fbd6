//go:build race

package workers

// raceEnabled: the race detector's instrumentation changes frame sizes,
// and with them when the collector shrinks a stack.
const raceEnabled = true
