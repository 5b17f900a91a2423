// Package pattern is the body that bench/server's GET /bytes sends and
// bench/wanclient uploads and checks: a fixed pseudo-random 1 MiB block,
// repeated. A receiver checks every byte, in order, at the cost of a
// memory comparison, and a misplaced frame shows.
package pattern

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
)

// BlockSize is the period of the pattern.
const BlockSize = 1 << 20

var block = func() []byte {
	r := rand.New(rand.NewPCG(12, 2026))
	b := make([]byte, BlockSize)
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}()

// At returns the longest slice of the pattern that starts at offset off
// and is at most n bytes long (never more than the rest of one block).
// The caller must not modify it.
func At(off int64, n int) []byte {
	i := int(off % BlockSize)
	return block[i : i+min(n, BlockSize-i)]
}

// Reader reads N bytes of the pattern.
type Reader struct {
	N   int64 // bytes in all
	off int64
}

func (r *Reader) Read(p []byte) (int, error) {
	if r.off >= r.N {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.off < r.N {
		c := copy(p[n:], At(r.off, int(min(int64(len(p)-n), r.N-r.off))))
		n += c
		r.off += int64(c)
	}
	return n, nil
}

// Checker is an io.Writer that compares what it is given with the
// pattern from offset 0; Write fails at the first byte that differs.
type Checker struct {
	N int64 // bytes checked so far
}

func (c *Checker) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		want := At(c.N, len(p)-done)
		got := p[done : done+len(want)]
		if !bytes.Equal(got, want) {
			for i := range got {
				if got[i] != want[i] {
					return done + i, fmt.Errorf("pattern: byte %d is %#x, want %#x", c.N+int64(i), got[i], want[i])
				}
			}
		}
		done += len(want)
		c.N += int64(len(want))
	}
	return done, nil
}
