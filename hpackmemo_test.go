package h2server

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func TestTableNeutral(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block []byte
		want  bool
	}{
		{"empty", nil, true},
		{"indexed", []byte{0x82, 0x86, 0x84}, true},
		{"indexed, long index", []byte{0xff, 0x80, 0x01}, true},
		{"literal without indexing, indexed name", []byte{0x04, 0x85, 0x62, 0x72, 0xd1, 0x41, 0xff}, true},
		{"literal without indexing, new name", []byte{0x00, 0x01, 'a', 0x01, 'b'}, true},
		{"never indexed, new name", []byte{0x10, 0x01, 'a', 0x00}, true},
		{"incremental indexing", []byte{0x82, 0x41, 0x01, 'a'}, false},
		{"size update", []byte{0x3f, 0xe1, 0x1f, 0x82}, false},
		{"size update to zero", []byte{0x20}, false},
		{"string cut short", []byte{0x04, 0x85, 0x62, 0x72}, false},
		{"name cut short", []byte{0x00, 0x05, 'a'}, false},
		{"integer cut short", []byte{0xff, 0x80}, false},
		{"integer past 32 bits", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, false},
		{"value missing", []byte{0x00, 0x01, 'a'}, false},
	} {
		if got := tableNeutral(tc.block); got != tc.want {
			t.Errorf("%s: tableNeutral(% x) = %v, want %v", tc.name, tc.block, got, tc.want)
		}
	}

	// Blocks from x/net's encoder: a field's first use is a literal with
	// incremental indexing; its next use, and a sensitive field, is not.
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	block := func(fs ...hpack.HeaderField) []byte {
		buf.Reset()
		for _, f := range fs {
			enc.WriteField(f)
		}
		return bytes.Clone(buf.Bytes())
	}
	path := hpack.HeaderField{Name: ":path", Value: "/x"}
	secret := hpack.HeaderField{Name: "authorization", Value: "t0k3n", Sensitive: true}
	if b := block(path); tableNeutral(b) {
		t.Errorf("first use of a field (% x) taken for neutral", b)
	}
	if b := block(path, secret); !tableNeutral(b) {
		t.Errorf("indexed field and sensitive literal (% x) not taken for neutral", b)
	}
	enc.SetMaxDynamicTableSize(128)
	if b := block(path); tableNeutral(b) {
		t.Errorf("block with a size update (% x) taken for neutral", b)
	}
}

// TestMemoKeepsRequestsTrue sends random requests through one connection
// (paths and fields repeated, so that the same block bytes recur;
// sensitive fields; table size changes, so that the same bytes come to
// mean other fields; trailers that change the table; blocks split
// across two reads, or into HEADERS and CONTINUATION) and checks that every handler sees the request the
// client sent, and that the memo served many of them.
func TestMemoKeepsRequestsTrue(t *testing.T) {
	for seed := uint64(1); seed <= 6; seed++ {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			run(t, func(t *testing.T) { memoRun(t, seed) })
		})
	}
}

func memoRun(t *testing.T, seed uint64) {
	var hits uint32
	tst := newServerTester(t, HandlerFunc(func(st *Stream) {
		// The reader is waiting for the client, which waits for this
		// response: its state stands still.
		hits = st.c.rd.hdec.hits
		body, _ := io.ReadAll(st)
		io.WriteString(st, describeRequest(st.Request(), body, st.Trailers()))
	}))
	tst.greet()
	rng := rand.New(rand.NewPCG(seed, 0))
	paths := []string{"/", "/a", "/b/c", "/long/" + strings.Repeat("x", 40)}
	values := []string{"1", "two", strings.Repeat("v", 50)}
	var frame bytes.Buffer
	fr := http2.NewFramer(&frame, nil)
	id := uint32(1)
	var req *Request
	const n = 300
	for i := range n {
		if rng.IntN(30) == 0 {
			tst.enc.SetMaxDynamicTableSize([]uint32{0, 64, 200, 4096}[rng.IntN(4)])
		}
		if i == 0 || rng.IntN(4) == 0 {
			// A new request; otherwise the last one again, as clients
			// repeat themselves.
			method := "GET"
			if rng.IntN(8) == 0 {
				method = "POST"
			}
			req = &Request{Method: method, Path: paths[rng.IntN(len(paths))]}
			for k := range rng.IntN(3) {
				f := hpack.HeaderField{Name: "x-h" + strconv.Itoa(k), Value: values[rng.IntN(len(values))], Sensitive: rng.IntN(3) == 0}
				req.Fields = append(req.Fields, f)
			}
		}
		post := req.Method == "POST"
		tst.encBuf.Reset()
		for _, kv := range [][2]string{{":method", req.Method}, {":scheme", "https"}, {":authority", "example.com"}, {":path", req.Path}} {
			tst.enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
		}
		for _, f := range req.Fields {
			tst.enc.WriteField(f)
		}
		frame.Reset()
		block := tst.encBuf.Bytes()
		if len(block) > 1 && rng.IntN(6) == 0 {
			// HEADERS and CONTINUATION: never taken from the memo, and
			// the memo must not take the last fragment for the block.
			cut := 1 + rng.IntN(len(block)-1)
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block[:cut], EndStream: !post})
			fr.WriteContinuation(id, true, block[cut:])
		} else {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: !post, EndHeaders: true})
		}
		b := frame.Bytes()
		if rng.IntN(4) == 0 {
			// Split inside the block: the server reads the first part
			// and waits for the rest.
			cut := 9 + 1 + rng.IntN(len(b)-10)
			tst.cc.Write(b[:cut])
			synctest.Wait()
			b = b[cut:]
		}
		tst.cc.Write(b)
		var body []byte
		var trailers []hpack.HeaderField
		if post {
			body = []byte("body " + strconv.Itoa(i))
			frame.Reset()
			fr.WriteData(id, false, body)
			// Named as request fields, so that a trailer that enters the
			// table gives a later request's block the bytes of an older
			// block with another value.
			trailers = []hpack.HeaderField{{Name: "x-h" + strconv.Itoa(rng.IntN(2)), Value: values[rng.IntN(len(values))]}}
			tst.encBuf.Reset()
			tst.enc.WriteField(trailers[0]) // indexed or not: it may change the table
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: tst.encBuf.Bytes(), EndStream: true, EndHeaders: true})
			tst.cc.Write(frame.Bytes())
		}
		frame.Reset()
		want := describeRequest(req, body, trailerHeader(trailers))
		if r := tst.wantResponse(id); r.status != "200" || r.body != want {
			t.Fatalf("request %d (stream %d): status %s, handler saw\n%s\nwant\n%s", i, id, r.status, r.body, want)
		}
		id += 2
	}
	if hits < n/8 {
		t.Errorf("%d of %d requests came from the memo, want more than %d", hits, n, n/8)
	}
}

// TestMemoForgetsOnTrailers: trailers that enter a field in the dynamic
// table make a later request's block the same bytes as a remembered one,
// with another value.
func TestMemoForgetsOnTrailers(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(func(st *Stream) {
			io.Copy(io.Discard, st)
			io.WriteString(st, st.Request().Path+" "+fieldsString(st.Request().Fields))
		}))
		tst.greet()
		// Pseudo-header fields never indexed: the block's one reference
		// to the dynamic table is x-v, at its head (index 62).
		block := func(method, v string) []byte {
			tst.encBuf.Reset()
			for _, kv := range [][2]string{{":method", method}, {":scheme", "https"}, {":authority", "example.com"}, {":path", "/a"}} {
				tst.enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1], Sensitive: true})
			}
			tst.enc.WriteField(hpack.HeaderField{Name: "x-v", Value: v})
			return bytes.Clone(tst.encBuf.Bytes())
		}
		var remembered []byte
		for id := uint32(1); id <= 7; id += 2 {
			b := block("GET", "old")
			if id > 1 {
				remembered = b
			}
			tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: b, EndStream: true, EndHeaders: true})
			if r := tst.wantResponse(id); r.body != "/a x-v=old" {
				t.Fatalf("stream %d: handler saw %s", id, r.body)
			}
		}
		tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 9, BlockFragment: block("POST", "old"), EndHeaders: true})
		tst.encBuf.Reset()
		tst.enc.WriteField(hpack.HeaderField{Name: "x-v", Value: "new"}) // index 62 now
		tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 9, BlockFragment: tst.encBuf.Bytes(), EndStream: true, EndHeaders: true})
		tst.wantResponse(9)
		b := block("GET", "new")
		if !bytes.Equal(b, remembered) {
			t.Fatalf("the block of x-v: new is % x, want the remembered % x", b, remembered)
		}
		tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 11, BlockFragment: b, EndStream: true, EndHeaders: true})
		if r := tst.wantResponse(11); r.body != "/a x-v=new" {
			t.Fatalf("after the trailers, the handler saw %s", r.body)
		}
	})
}

// describeRequest is what memoRun's handler answers: the request as it
// saw it.
func describeRequest(r *Request, body []byte, trailers map[string][]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Method, r.Path)
	for _, f := range r.Fields {
		fmt.Fprintf(&b, " %s=%s", f.Name, f.Value)
	}
	fmt.Fprintf(&b, " body=%q trailers=%v", body, trailers)
	return b.String()
}

func trailerHeader(fs []hpack.HeaderField) map[string][]string {
	if fs == nil {
		return nil
	}
	h := map[string][]string{}
	for _, f := range fs {
		k := canonicalKey(f.Name)
		h[k] = append(h[k], f.Value)
	}
	return h
}

// FuzzTableNeutral checks tableNeutral against x/net's decoder: a block
// that the decoder accepts and that changes its dynamic table is never
// called neutral, which the memo relies on.
func FuzzTableNeutral(f *testing.F) {
	f.Add([]byte{0x82, 0x86, 0x84, 0xbe})
	f.Add([]byte{0x04, 0x85, 0x62, 0x72, 0xd1, 0x41, 0xff, 0xbf})
	f.Add([]byte{0x40, 0x01, 'a', 0x01, 'b'})
	f.Add([]byte{0x3f, 0x21})
	f.Add([]byte{0x10, 0x01, 'a', 0x00, 0xc0})
	var prime bytes.Buffer
	enc := hpack.NewEncoder(&prime)
	for _, v := range []string{"one", "two", "three"} {
		enc.WriteField(hpack.HeaderField{Name: "x-" + v, Value: v})
	}
	f.Fuzz(func(t *testing.T, block []byte) {
		d := hpack.NewDecoder(4096, nil)
		if _, err := d.DecodeFull(prime.Bytes()); err != nil {
			t.Fatal(err)
		}
		before := dynamicEntries(d)
		if _, err := d.DecodeFull(block); err != nil {
			return // a connection error: the memo is never consulted again
		}
		if after := dynamicEntries(d); !slices.Equal(before, after) && tableNeutral(block) {
			t.Fatalf("block % x changed the table from %v to %v, but tableNeutral says it does not", block, before, after)
		}
	})
}

// dynamicEntries lists d's dynamic table, newest first, by decoding one
// indexed field at a time from index 62 (RFC 7541 section 2.3.3).
func dynamicEntries(d *hpack.Decoder) []hpack.HeaderField {
	var fs []hpack.HeaderField
	for i := 62; i < 127; i++ {
		got, err := d.DecodeFull([]byte{0x80 | byte(i)})
		if err != nil {
			break
		}
		fs = append(fs, got...)
	}
	return fs
}
