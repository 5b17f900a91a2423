package h2server

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// TestEncodeBlockMatchesDecoder: a long run of header blocks, drawn from a
// small pool so that heads repeat (and the block cache serves them), with
// values large enough to evict entries and with the peer's table size
// changing now and then, each decoded by a peer's HPACK decoder: every
// block must decode to exactly the fields it was made from. A cached
// block that outlived a change of the dynamic table would decode to other
// fields (or fail).
func TestEncodeBlockMatchesDecoder(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			w := &writer{peerTableSize: 4096, fr: new(writeFramer)}
			var got []hpack.HeaderField
			dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) { got = append(got, f) })
			pool := blockPool(rng)
			hits := 0
			tableSize, wantUpdate := uint32(4096), false
			for i := range 3000 {
				if rng.IntN(200) == 0 {
					// The peer's SETTINGS_HEADER_TABLE_SIZE: its
					// decoder accepts a table up to n from now on.
					n := uint32(rng.IntN(5000))
					dec.SetAllowedMaxDynamicTableSize(n)
					w.setPeerTableSize(n)
					if n < tableSize {
						// RFC 7541 section 4.2: the encoder's table
						// shrinks, and the next block says so first.
						tableSize, wantUpdate = n, true
					}
				}
				fields := pool[rng.IntN(len(pool))]
				cached := w.fr.blocks.lookup(fields) != nil
				block := slices.Clone(w.encodeBlock(fields))
				if cached {
					hits++
				}
				if wantUpdate && block[0]&0xe0 != 0x20 {
					t.Fatalf("block %d (cached %v) after the table shrank begins with %#x, not a size update", i, cached, block[0])
				}
				wantUpdate = false
				got = got[:0]
				if _, err := dec.Write(block); err != nil {
					t.Fatalf("block %d (cached %v): %v", i, cached, err)
				}
				if err := dec.Close(); err != nil {
					t.Fatalf("block %d (cached %v): %v", i, cached, err)
				}
				if !slices.Equal(got, fields) {
					t.Fatalf("block %d (cached %v) decodes to %v, want %v", i, cached, got, fields)
				}
			}
			if hits == 0 {
				t.Fatal("no block came from the cache: the test does not test it")
			}
		})
	}
}

// blockPool makes a few header lists: most small and repeated, some with
// values that fill the dynamic table.
func blockPool(rng *rand.Rand) [][]hpack.HeaderField {
	var pool [][]hpack.HeaderField
	for range 6 {
		fields := []hpack.HeaderField{{Name: ":status", Value: []string{"200", "204", "404", "103"}[rng.IntN(4)]}}
		for range rng.IntN(4) {
			v := fmt.Sprint(rng.IntN(3))
			if rng.IntN(4) == 0 {
				v = strings.Repeat("x", rng.IntN(1500))
			}
			fields = append(fields, hpack.HeaderField{Name: fmt.Sprintf("x-f%d", rng.IntN(3)), Value: v})
		}
		pool = append(pool, fields)
	}
	return pool
}

func TestOnlyIndexed(t *testing.T) {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"}) // static index 8
	if !onlyIndexed(buf.Bytes()) {
		t.Errorf("%x: an indexed field, reported otherwise", buf.Bytes())
	}
	enc.WriteField(hpack.HeaderField{Name: "x-a", Value: "1"}) // literal, incremental indexing
	if onlyIndexed(buf.Bytes()) {
		t.Errorf("%x: a literal field, reported indexed", buf.Bytes())
	}
	// Indexes of 127 and more continue past the first byte.
	for _, block := range [][]byte{{0xff, 0x00}, {0xff, 0x80, 0x01, 0x82}, {0x82, 0xff, 0x81, 0x01}} {
		if !onlyIndexed(block) {
			t.Errorf("%x: indexed fields with long indexes, reported otherwise", block)
		}
	}
	for _, block := range [][]byte{{0xff, 0x80, 0x01, 0x40}, {0x3f, 0xe1, 0x1f}, {0x82, 0x0f, 0x00}} {
		if onlyIndexed(block) {
			t.Errorf("%x: a literal or a size update after indexed fields, reported indexed", block)
		}
	}
}
