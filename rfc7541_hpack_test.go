package h2server

// RFC 7541 (HPACK) as the server's decoder applies it: h2spec generic/5
// (every field representation accepted) and hpack/* (each decoding error
// is a connection COMPRESSION_ERROR). Shared helpers are in
// conformance_test.go.

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
)

// HPACK: h2spec generic/5 (positive) and hpack/* (errors).

// confRawBlock sends the common request fields encoded by the test's
// encoder, with raw HPACK bytes before and after.
func confRawBlock(tst *serverTester, id uint32, before, after []byte) {
	block := append(append(bytes.Clone(before), tst.encode(reqFields("GET", "/hpack")...)...), after...)
	tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true})
}

func TestRFC7541_6_FieldRepresentationsAccepted(t *testing.T) {
	// h2spec generic/5/1-15: every representation of RFC 7541 section 6,
	// with and without Huffman coding, and dynamic table size updates at
	// the start of a block.
	for _, tc := range []struct {
		name          string
		before, after string
	}{
		{"indexed", "", "\xba"},
		{"incremental_indexed_name", "", "\x40\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4"},
		{"incremental_indexed_name_huffman", "", "\x40\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63"},
		{"incremental_new_name", "", "\x40\x06\x78\x2d\x74\x65\x73\x74\x06\x68\x32\x73\x70\x65\x63"},
		{"incremental_new_name_huffman", "", "\x40\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4"},
		{"without_indexing_indexed_name", "", "\x00\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63"},
		{"without_indexing_indexed_name_huffman", "", "\x00\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4"},
		{"without_indexing_new_name", "", "\x00\x06\x78\x2d\x74\x65\x73\x74\x06\x68\x32\x73\x70\x65\x63"},
		{"without_indexing_new_name_huffman", "", "\x00\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4"},
		{"never_indexed_indexed_name", "", "\x10\x0a\x75\x73\x65\x72\x2d\x61\x67\x65\x6e\x74\x06\x68\x32\x73\x70\x65\x63"},
		{"never_indexed_indexed_name_huffman", "", "\x10\x87\xb5\x05\xb1\x61\xcc\x5a\x93\x84\x9c\x48\xac\xa4"},
		{"never_indexed_new_name", "", "\x10\x85\xf2\xb2\x4a\x84\xff\x84\x9c\x48\xac\xa4"},
		{"size_update_128", "\x3f\x61", ""},
		{"size_updates_128_then_4096", "\x3f\x61\x3f\xe1\x1f", ""},
		{"size_update_0", "\x20", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := confStart(t, HandlerFunc(confHandler))
				confRawBlock(tst, 1, []byte(tc.before), []byte(tc.after))
				if r := tst.wantResponse(1); r.body != "response to /hpack" {
					t.Fatalf("got %+v", r)
				}
			})
		})
	}
	t.Run("encoder_size_update_before_second_block", func(t *testing.T) {
		// A size update is allowed at the start of any block, not only
		// the first of the connection.
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.get(1, "/")
			tst.wantResponse(1)
			tst.enc.SetMaxDynamicTableSize(128)
			tst.get(3, "/after")
			if r := tst.wantResponse(3); r.body != "response to /after" {
				t.Fatalf("got %+v", r)
			}
		})
	})
}

func TestRFC7541_2_3_3_InvalidIndexIsCompressionError(t *testing.T) {
	// h2spec hpack/2.3.3/1: index 70 with a dynamic table of one entry.
	confConnErrors(t, []confConnCase{
		{"h2spec", func(tst *serverTester) { confRawBlock(tst, 1, nil, []byte{0xc6}) }, ErrCodeCompression},
		{"largest_index", func(tst *serverTester) { confRawBlock(tst, 1, nil, []byte{0xff, 0xff, 0xff, 0xff, 0x0f}) }, ErrCodeCompression},
		{"literal_with_invalid_name_index", func(tst *serverTester) { confRawBlock(tst, 1, nil, []byte{0x7f, 0x20, 0x01, 'v'}) }, ErrCodeCompression},
	})
}

func TestRFC7541_4_2_TableSizeUpdateTooLarge(t *testing.T) {
	// h2spec hpack/4.2/1: "This dynamic table size update MUST occur at
	// the beginning of the first header block following the change"; and
	// it must not exceed the limit we set (SETTINGS_HEADER_TABLE_SIZE,
	// 4096 by default; RFC 7541 section 6.3). Both are decoding errors:
	// COMPRESSION_ERROR.
	confConnErrors(t, []confConnCase{
		{"at_end_of_block", func(tst *serverTester) { confRawBlock(tst, 1, nil, []byte{0x21}) }, ErrCodeCompression},
		{"above_settings_header_table_size", func(tst *serverTester) {
			confRawBlock(tst, 1, []byte{0x3f, 0xe2, 0x1f}, nil) // 4097
		}, ErrCodeCompression},
	})
}

func TestRFC7541_5_2_InvalidHuffmanIsCompressionError(t *testing.T) {
	// h2spec hpack/5.2/1-3: padding longer than 7 bits, padding that is
	// not the EOS prefix (zeros), and the EOS symbol inside a string.
	confConnErrors(t, []confConnCase{
		{"padding_longer_than_7_bits", func(tst *serverTester) {
			confRawBlock(tst, 1, nil, []byte("\x00\x85\xf2\xb2\x4a\x84\xff\x84\x49\x50\x9f\xff"))
		}, ErrCodeCompression},
		{"padded_by_zero", func(tst *serverTester) {
			confRawBlock(tst, 1, nil, []byte("\x00\x85\xf2\xb2\x4a\x84\xff\x83\x49\x50\x90"))
		}, ErrCodeCompression},
		{"eos_symbol", func(tst *serverTester) {
			confRawBlock(tst, 1, nil, []byte("\x00\x85\xf2\xb2\x4a\x87\xff\xff\xff\xfd\x25\x42\x7f"))
		}, ErrCodeCompression},
		{"string_longer_than_block", func(tst *serverTester) {
			confRawBlock(tst, 1, nil, []byte("\x00\x05x-bad\x7f\x00abc"))
		}, ErrCodeCompression},
	})
}

func TestRFC7541_6_1_IndexZeroIsCompressionError(t *testing.T) {
	// h2spec hpack/6.1/1: "The index value of 0 is not used. It MUST be
	// treated as a decoding error if found in an indexed header field
	// representation."
	confConnErrors(t, []confConnCase{
		{"h2spec", func(tst *serverTester) { confRawBlock(tst, 1, nil, []byte{0x80}) }, ErrCodeCompression},
	})
}

func TestRFC7541_6_3_TableSizeUpdateAboveLimitIsCompressionError(t *testing.T) {
	// h2spec hpack/6.3/1: "The new maximum size MUST be lower than or
	// equal to the limit ... A value that exceeds this limit MUST be
	// treated as a decoding error."
	confConnErrors(t, []confConnCase{
		{"4097", func(tst *serverTester) { confRawBlock(tst, 1, []byte{0x3f, 0xe2, 0x1f}, nil) }, ErrCodeCompression},
		{"2^32", func(tst *serverTester) {
			confRawBlock(tst, 1, []byte{0x3f, 0xe1, 0xff, 0xff, 0xff, 0x0f}, nil)
		}, ErrCodeCompression},
	})
	t.Run("4096_accepted", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			confRawBlock(tst, 1, []byte{0x3f, 0xe1, 0x1f}, nil)
			tst.wantResponse(1)
		})
	})
}
