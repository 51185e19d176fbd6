package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseSize reads a byte count as Unbound's config does: digits with an
// optional k, m or g suffix, powers of 1024 ("256m", "256MiB" and "256MB"
// are all 256 MiB; the B and iB spellings are accepted for clarity).
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "b"), "i")
	shift := 0
	switch {
	case strings.HasSuffix(t, "k"):
		shift = 10
	case strings.HasSuffix(t, "m"):
		shift = 20
	case strings.HasSuffix(t, "g"):
		shift = 30
	}
	if shift > 0 {
		t = t[:len(t)-1]
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("%q: not a size (bytes, or a number with k, m or g)", s)
	}
	return n << shift, nil
}
