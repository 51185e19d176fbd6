// Package stackpad grows a new goroutine's stack at its start.
//
// A goroutine starts with a small stack, and the runtime doubles it when a
// call's frame does not fit, copying every frame and adjusting every
// pointer into it. Deep inside a resolution that copy walks many frames;
// at the goroutine's first call it walks one. A call to Grow8K or Grow16K
// first thing in the goroutine makes the runtime grow the stack there,
// once, to the size that the work after it fits in.
//
// Each pad is declared in a branch never taken: the function's frame is
// sized for it (the prologue's stack check is what grows the stack), but
// nothing zeroes it, which took as long as the growth itself.
package stackpad

// Grow8K grows the stack to 8 KB: the pad needs more than a 4 KB stack,
// and the runtime rounds up to the next power of two.
//
//go:noinline
func Grow8K() {
	if touchPad {
		var pad [4 << 10]byte
		touch(pad[:])
	}
}

// Grow16K grows the stack to 16 KB, as Grow8K does; a 32 KB stack would
// not come from the runtime's per-P stack cache.
//
//go:noinline
func Grow16K() {
	if touchPad {
		var pad [8 << 10]byte
		touch(pad[:])
	}
}

// Recv4K receives from ch in a frame of more than 4 KB. A goroutine parked
// in it keeps over a quarter of a 16 KB stack in use, which the collector
// does not halve (it shrinks the stacks of goroutines that use less): a
// pooled worker waiting for its next function keeps the stack the last
// one grew. A 32 KB stack is halved to 16 KB, and kept there.
//
//go:noinline
func Recv4K[T any](ch <-chan T) (T, bool) {
	if touchPad {
		var pad [4 << 10]byte
		touch(pad[:])
	}
	v, ok := <-ch
	return v, ok
}

// touchPad is never set: the compiler cannot drop a branch on a variable.
var touchPad bool

// touch keeps a pad real: the compiler cannot see through a call it may
// not inline.
//
//go:noinline
func touch(pad []byte) { pad[0] = 1 }
