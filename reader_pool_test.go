package h2server

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
)

// The readers of parked and closed connections, with their Framers, are
// pooled (recycleReader). A Framer carries one state from frame to frame,
// an open header block; connReader.inBlock mirrors it so that a reader in
// that state is never handed to another connection.

// TestReaderMirrorsFramerBlock feeds sequences of frame headers to a
// Framer and to the mirror, and then a PING header: the Framer refuses
// the PING exactly when the mirror says a header block is open.
func TestReaderMirrorsFramerBlock(t *testing.T) {
	type hdr struct {
		typ   http2.FrameType
		flags http2.Flags
		id    uint32
	}
	var (
		headersEnd   = hdr{http2.FrameHeaders, http2.FlagHeadersEndHeaders, 1}
		headersOpen  = hdr{http2.FrameHeaders, 0, 1}
		headersOpen0 = hdr{http2.FrameHeaders, 0, 0}
		contOpen     = hdr{http2.FrameContinuation, 0, 1}
		contEnd      = hdr{http2.FrameContinuation, http2.FlagHeadersEndHeaders, 1}
		contOther    = hdr{http2.FrameContinuation, http2.FlagHeadersEndHeaders, 3}
		data         = hdr{http2.FrameData, 0, 1}
		settings     = hdr{http2.FrameSettings, 0, 0}
	)
	seqs := map[string][]hdr{
		"none":                     {},
		"HEADERS ended":            {headersEnd},
		"HEADERS open":             {headersOpen},
		"HEADERS open on stream 0": {headersOpen0},
		"CONTINUATION open":        {headersOpen, contOpen},
		"CONTINUATION ended":       {headersOpen, contOpen, contEnd},
		"CONTINUATION elsewhere":   {headersOpen, contOther},
		"CONTINUATION alone":       {contEnd},
		"DATA in a block":          {headersOpen, data},
		"block then more":          {headersOpen, contEnd, data, settings, headersOpen},
		"block ended then DATA":    {headersOpen, contEnd, data},
	}
	for name, seq := range seqs {
		var wire bytes.Buffer
		for _, h := range append(seq, hdr{http2.FramePing, 0, 0}) {
			wire.Write([]byte{0, 0, 0, byte(h.typ), byte(h.flags), byte(h.id >> 24), byte(h.id >> 16), byte(h.id >> 8), byte(h.id)})
		}
		fr := http2.NewFramer(nil, &wire)
		var cr connReader
		for _, h := range seq {
			if fh, err := fr.ReadFrameHeader(); err == nil {
				cr.frameHeaderRead(fh)
			} else if h.typ != http2.FrameContinuation && h.typ != http2.FrameData {
				t.Fatalf("%s: %v refused: %v", name, h.typ, err)
			}
		}
		_, err := fr.ReadFrameHeader()
		if refused := err != nil; refused != cr.inBlock {
			t.Errorf("%s: Framer refuses the next PING: %v (%v); mirror says a block is open: %v", name, refused, err, cr.inBlock)
		}
	}
}

// TestReaderOfClosedBlockNotReused: connections that close in the middle
// of a header block, each followed by one that asks for a page. Were the
// first one's Framer pooled, the next connection to take it would find
// its own frames refused as out of order.
func TestReaderOfClosedBlockNotReused(t *testing.T) {
	run(t, func(t *testing.T) {
		for range 20 {
			bad := newServerTester(t, HandlerFunc(func(st *Stream) { st.WriteHeaders(200, nil) }))
			bad.greet()
			bad.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: bad.encode(reqFields("GET", "/")...)})
			bad.cc.Close()
			if err := <-bad.served; err != nil {
				t.Fatalf("ServeConn of the closed connection: %v", err)
			}

			good := newServerTester(t, HandlerFunc(func(st *Stream) { st.WriteHeaders(200, nil) }))
			good.greet()
			good.get(1, "/")
			if r := good.wantResponse(1); r.status != "200" {
				t.Fatalf("status %q, want 200", r.status)
			}
		}
	})
}
