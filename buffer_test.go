package h2server

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// recordWriter keeps what outBuf writes, and the size of each write.
type recordWriter struct {
	bytes.Buffer
	writes []int
}

func (w *recordWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.Buffer.Write(p)
}

// TestOutBuf checks the writer's batch buffer against what it must do:
// every byte out, in order; a batch that fits the small buffer goes out in
// one write at flush; a bigger batch goes out in writes of the big
// buffer's size, whole, then the rest at flush; frames bigger than the
// big buffer (a peer allowing large frames) go through too.
func TestOutBuf(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{9, 13, 100, 4096, 4097, 16384 + 9, 32 << 10, 40 << 10, 100 << 10}
	for round := range 200 {
		var out recordWriter
		o := outBuf{out: &out}
		var want bytes.Buffer
		n := 1 + rng.IntN(12)
		for range n {
			p := make([]byte, sizes[rng.IntN(len(sizes))])
			for i := range p {
				p[i] = byte(rng.Uint32())
			}
			want.Write(p)
			if k, err := o.Write(p); k != len(p) || err != nil {
				t.Fatalf("round %d: Write(%d bytes) = %d, %v", round, len(p), k, err)
			}
		}
		if err := o.flush(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want.Bytes()) {
			t.Fatalf("round %d: the bytes written differ from the bytes given", round)
		}
		if want.Len() <= smallWriteBufferSize && len(out.writes) != 1 {
			t.Errorf("round %d: %d bytes went out in %d writes, want 1", round, want.Len(), len(out.writes))
		}
		for i, w := range out.writes[:len(out.writes)-1] {
			if w < writeBufferSize {
				t.Errorf("round %d: write %d of %d is %d bytes; only the last may be short of %d",
					round, i, len(out.writes), w, writeBufferSize)
			}
		}
		if o.buf != nil {
			t.Errorf("round %d: outBuf holds a buffer after flush", round)
		}
	}
}
