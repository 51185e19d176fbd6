package cookie

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Key is a SipHash key: 16 bytes, read as two little-endian words.
type Key [16]byte

// SipHash24 is SipHash-2-4 (Aumasson and Bernstein, 2012) of msg under
// key: two compression rounds per 8-byte word, four finalisation rounds.
// It allocates nothing.
func SipHash24(key *Key, msg []byte) uint64 {
	return sipHash24(binary.LittleEndian.Uint64(key[:8]), binary.LittleEndian.Uint64(key[8:]), msg)
}

func sipHash24(k0, k1 uint64, msg []byte) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
		msg = msg[8:]
	}
	// The last word: the remaining bytes, and the length mod 256 in the
	// top byte.
	last := uint64(n) << 56
	for i, c := range msg {
		last |= uint64(c) << (8 * i)
	}
	v3 ^= last
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= last
	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

// sipHashCookie is sipHash24 of the 16 bytes head (client cookie,
// version, reserved, timestamp) followed by the address a: the server
// cookie's hash, without laying the message out in memory.
func sipHashCookie(k0, k1 uint64, head []byte, a netip.Addr) uint64 {
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	var words [5]uint64
	words[0] = binary.LittleEndian.Uint64(head[:8])
	words[1] = binary.LittleEndian.Uint64(head[8:16])
	n := 3
	if a.Is4() {
		b := a.As4()
		words[2] = 20<<56 | uint64(binary.LittleEndian.Uint32(b[:]))
	} else {
		b := a.As16()
		words[2] = binary.LittleEndian.Uint64(b[:8])
		words[3] = binary.LittleEndian.Uint64(b[8:])
		words[4] = 32 << 56
		n = 5
	}
	for _, m := range words[:n] {
		v3 ^= m
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= m
	}
	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}
