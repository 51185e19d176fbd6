package cache

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// The cache file (Dump, Load) is text, one entry a line, so that a damaged
// file names the line at fault and a truncated one is seen as such:
//
//	recursor-cache 2
//	EXPIRES TTL TYPE CLASS NEGATIVE RANK SECURITY EDE NSIGS NAMELEN OWNERLEN TAILLEN DATA
//	...
//	end COUNT
//
// EXPIRES is the entry's absolute expiry in Unix nanoseconds of the cache's
// clock (the wall clock outside tests), so that the time a file spends on
// disk counts against its TTLs; TTL the seconds it was stored with (for
// prefetch: Entry.OriginalTTL). TYPE, CLASS, EDE are numbers; NEGATIVE,
// RANK and SECURITY the numbers of Negative, Rank and Security. DATA is the
// entry's bytes as the store keeps them (the canonical name, the owner's
// spelling, the records' RDATA, the RRSIGs and the proof in wire form; see
// entry.data), standard base64. The last line counts the entries: a file
// without it was cut short. The fields are the store's own so that loading
// costs no parsing of presentation format: 100,000 RRsets load in well
// under a second.

// fileMagic is the first line of a cache file, with the format's version.
const fileMagic = "recursor-cache 2"

// Dump writes the live entries, shard by shard and each shard's oldest
// first (so that Load restores each shard's LRU order), in the cache file
// format. It copies each shard's entries under its lock and writes
// without any, so queries are not held up by a slow writer.
func (c *Cache) Dump(w io.Writer) error {
	now := c.cfg.Now().UnixNano()
	var entries []entry
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for i := sh.s.at(0).prev; i != 0; {
			sl := sh.s.at(i)
			if now < sl.expires {
				entries = append(entries, sh.s.entryAt(sl))
			}
			i = sl.prev
		}
		sh.mu.Unlock()
	}

	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(fileMagic + "\n")
	var line []byte
	for i := range entries {
		line = appendEntryLine(line[:0], &entries[i])
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("cache dump: %w", err)
		}
	}
	fmt.Fprintf(bw, "end %d\n", len(entries))
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("cache dump: %w", err)
	}
	return nil
}

func appendEntryLine(b []byte, e *entry) []byte {
	for _, n := range []int64{e.expires, int64(e.ttl), int64(e.typ), int64(e.class), int64(e.negative), int64(e.rank),
		int64(e.security), int64(e.ede), int64(e.nsigs), int64(e.nameLen), int64(e.ownerLen), int64(e.tailLen)} {
		b = strconv.AppendInt(b, n, 10)
		b = append(b, ' ')
	}
	b = base64.StdEncoding.AppendEncode(b, []byte(e.data))
	return append(b, '\n')
}

// ErrCacheFile is wrapped by Load's errors about the file's content.
var ErrCacheFile = errors.New("bad cache file")

// maxFileLine bounds a line of the cache file: an entry's data is at most
// an arena chunk, base64 makes it 4/3 as long.
const maxFileLine = arenaChunk*4/3 + 256

// Load reads a file that Dump wrote and stores its entries that are still
// live, as PutSet would (live entries that they may not replace are kept).
// It returns how many it stored. The whole file is read and checked before
// anything is stored: on an error (which names the line, and wraps
// ErrCacheFile when the content is at fault) the cache is unchanged.
func (c *Cache) Load(r io.Reader) (int, error) {
	now := c.cfg.Now()
	entries, err := readEntries(r, now)
	if err != nil {
		return 0, err
	}
	n := 0
	nowNano := now.UnixNano()
	for _, e := range entries {
		sh, h := c.shardOf(e.name())
		sh.mu.Lock()
		if sh.s.put(h, e, nowNano) {
			n++
		}
		sh.mu.Unlock()
	}
	return n, nil
}

// readEntries reads and checks a cache file, returning its live entries.
func readEntries(r io.Reader, now time.Time) ([]entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxFileLine)
	bad := func(line int, format string, args ...any) error {
		return fmt.Errorf("%w: line %d: %s", ErrCacheFile, line, fmt.Sprintf(format, args...))
	}
	lineNo := 1
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("line 1: %w", err)
		}
		return nil, bad(1, "empty file, want %q", fileMagic)
	}
	if sc.Text() != fileMagic {
		return nil, bad(1, "want %q, not a cache file of this version", fileMagic)
	}
	var entries []entry
	seen := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if count, ok := strings.CutPrefix(line, "end "); ok {
			if n, err := strconv.Atoi(count); err != nil || n != seen {
				return nil, bad(lineNo, "the file says %q but holds %d entries", line, seen)
			}
			if sc.Scan() {
				return nil, bad(lineNo+1, "data after the end line")
			}
			return entries, sc.Err()
		}
		e, err := parseEntryLine(line, now)
		if err != nil {
			return nil, bad(lineNo, "%v", err)
		}
		seen++
		if e.expires > now.UnixNano() {
			entries = append(entries, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: line %d: %w", ErrCacheFile, lineNo+1, err)
	}
	return nil, bad(lineNo, "the file ends without its end line (truncated?)")
}

// parseEntryLine reads one entry line and checks that its fields agree
// with its data, which must unpack.
func parseEntryLine(line string, now time.Time) (entry, error) {
	fields := strings.Split(line, " ")
	if len(fields) != 13 {
		return entry{}, fmt.Errorf("%d fields, want 13", len(fields))
	}
	var n [12]uint64
	bits := [12]int{64, 32, 16, 16, 8, 8, 8, 16, 8, 16, 16, 16}
	for i := range n {
		v, err := strconv.ParseUint(fields[i], 10, bits[i])
		if err != nil {
			return entry{}, fmt.Errorf("field %d: %v", i+1, err)
		}
		n[i] = v
	}
	data, err := base64.StdEncoding.DecodeString(fields[12])
	if err != nil {
		return entry{}, fmt.Errorf("data: %v", err)
	}
	e := entry{
		data: string(data), expires: int64(n[0]), ttl: uint32(n[1]), typ: uint16(n[2]), class: uint16(n[3]),
		negative: Negative(n[4]), rank: Rank(n[5]), security: Security(n[6]), ede: uint16(n[7]),
		nsigs: uint8(n[8]), nameLen: uint16(n[9]), ownerLen: uint16(n[10]), tailLen: uint16(n[11]),
	}
	if err := e.check(now); err != nil {
		return entry{}, err
	}
	return e, nil
}

// check reports what is wrong with an entry read from a file: values out
// of range, lengths that do not fit its data, a name that is not
// canonical, records that do not unpack.
func (e *entry) check(now time.Time) error {
	switch {
	case e.expires < 0:
		return errors.New("negative expiry")
	case e.negative > NoData || e.rank < RankGlue || e.rank > RankAuthAnswer || !validSecurity(e.security):
		return errors.New("negative, rank or security out of range")
	case (e.negative == NXDomain) != (e.typ == dns.TypeNone):
		return errors.New("type 0 is for NXDOMAIN entries only")
	case len(e.data) > arenaChunk:
		return errors.New("entry too large")
	case int(e.nameLen)+int(e.ownerLen)+int(e.tailLen) > len(e.data):
		return errors.New("lengths beyond the data")
	}
	name := e.name()
	if _, ok := dns.IsDomainName(name); !ok || Canonical(name) != name {
		return fmt.Errorf("name %q is not a canonical domain name", name)
	}
	// Unpacking at a time before expiry checks every record and every
	// length the data holds.
	out, ok := e.export(time.Unix(0, min(e.expires-1, now.UnixNano())))
	if !ok || e.negative == Positive && len(out.RRs) == 0 {
		return fmt.Errorf("the records of %s type %d do not unpack", name, e.typ)
	}
	return nil
}
