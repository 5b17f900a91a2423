package pattern

import (
	"io"
	"testing"
)

// What Reader produces, Checker accepts, whatever the read and write
// sizes; a changed or shifted byte is caught.
func TestReaderChecker(t *testing.T) {
	const n = 3*BlockSize + 12345
	for _, bufSize := range []int{7, 1000, 64 << 10, BlockSize + 7} {
		var c Checker
		m, err := io.CopyBuffer(&c, &Reader{N: n}, make([]byte, bufSize))
		if err != nil || m != n || c.N != n {
			t.Fatalf("buffer %d: copied %d bytes (%v), checked %d; want %d", bufSize, m, err, c.N, n)
		}
	}
	b, _ := io.ReadAll(&Reader{N: 2 * BlockSize})
	b[BlockSize+5]++
	var c Checker
	if _, err := c.Write(b); err == nil {
		t.Error("a changed byte passed")
	}
	b[BlockSize+5]--
	var c2 Checker
	if _, err := c2.Write(b[1:]); err == nil {
		t.Error("a shifted body passed")
	}
}
