package h2server

import (
	"bytes"
	"hash/maphash"
	"slices"

	"golang.org/x/net/http2/hpack"
)

// decoder is a connection's HPACK decoder with a memo of the request
// header blocks it decoded lately.
//
// Clients send the same request again and again (a load test, a gRPC
// client calling one method, a poller), and once its fields are in the
// dynamic table, or sent as literals the table does not keep, the block
// is the same bytes every time. Decoding it again costs a pass through
// the decoder, a string per literal (h2load sends :path as a literal
// without indexing, Huffman coded) and the checks of parseRequest: about
// a seventh of the CPU of a small request. Decoding is a function of the
// block's bytes and the dynamic table (RFC 7541 section 3.2), and a block
// of indexed fields and literals without indexing (sections 6.1, 6.2.2,
// 6.2.3) leaves the table as it was. So the memo holds such blocks with
// their fields and their parsed request, and stays valid exactly until a
// block that may change the table (a literal with incremental indexing,
// or a size update) is decoded: then it is emptied. (The decoder gets
// every block whole: headerFragment assembles those that come in pieces.) A memo hit skips the decoder, which after Close is in the
// same state whether it decoded the block or not.
//
// A block is kept the second time it is seen (by hash), so that clients
// whose every request differs (browsers) pay for no copies.
type decoder struct {
	hd      *hpack.Decoder
	scratch []byte // a block that came in pieces, assembled (headerFragment)
	memo    [memoLen]*blockMemo
	seen    [memoLen]uint64 // hashes of memo-able blocks decoded once
	hits    uint32          // blocks taken from the memo (for tests and debugging)
	n       uint8           // memo entries in use
	next    uint8           // the memo entry to replace next
	hash    uint8           // the seen entry to replace next
	pinned  bool            // hd may hold on to the last block it read (see unpin)
}

// blockMemo is one remembered request block. Nothing in it changes once
// it is made, except parsed, req and reason, set by the reader at the
// first parse: streams copy req and its Fields.
type blockMemo struct {
	block  []byte
	fields []hpack.HeaderField
	size   uint32 // the fields' size, as headerBlock.size
	parsed bool   // req and reason hold parseRequest's verdict on fields
	req    Request
	reason string
}

const (
	memoLen      = 4   // gRPC's few methods, a page's few polled resources
	memoMaxBlock = 256 // bytes: longer blocks are not remembered
)

var memoSeed = maphash.MakeSeed()

// lookup returns the memo of block, nil if there is none.
func (d *decoder) lookup(block []byte) *blockMemo {
	if d.n == 0 || len(block) > memoMaxBlock {
		return nil
	}
	for _, m := range d.memo {
		if m != nil && bytes.Equal(m.block, block) {
			d.hits++
			return m
		}
	}
	return nil
}

// doneBlock ends a header block: the assembly array goes unless it is
// small (most blocks come whole and never use it).
func (d *decoder) doneBlock() {
	if cap(d.scratch) > memoMaxBlock {
		d.scratch = nil
	} else {
		d.scratch = d.scratch[:0]
	}
}

// decoded keeps the memo true after the decoder took a block (and Close
// succeeded). whole is the block; request says the block opens a stream,
// with hdr's fields. It returns the block's new memo entry, if it made
// one.
func (d *decoder) decoded(whole []byte, request bool, hdr *headerBlock) *blockMemo {
	candidate := request && !hdr.tooLarge && len(whole) <= memoMaxBlock
	if d.n == 0 && !candidate {
		return nil // nothing to keep true, nothing to keep
	}
	if !tableNeutral(whole) {
		d.forget()
		return nil
	}
	if !candidate {
		return nil
	}
	h := maphash.Bytes(memoSeed, whole)
	if !slices.Contains(d.seen[:], h) {
		d.seen[d.hash%memoLen] = h
		d.hash++
		return nil
	}
	m := &blockMemo{block: bytes.Clone(whole), fields: slices.Clone(hdr.fields), size: hdr.size}
	if d.memo[d.next%memoLen] == nil {
		d.n++
	}
	d.memo[d.next%memoLen] = m
	d.next++
	return m
}

// parking drops what a parked connection need not keep: the memo (it
// keeps its table, not copies of old requests), the assembly array, and its
// hold on the last block read (unpin).
func (d *decoder) parking() {
	d.forget()
	d.scratch = nil
	d.unpin()
}

// unpin makes the x/net decoder let go of the last block it decoded.
// Decoder.Write keeps an empty slice of its input after decoding it, and
// an empty slice holds on to its whole array: a pooled read buffer the
// reader has given back (32 KiB, which the pool may hand to another
// connection or drop, but which stays in memory as long as the decoder
// lives), the assembly array, or the connection reader a parking connection
// drops. Decoding one indexed field of the static table with emitting
// off leaves the dynamic table and the decoder as they were (RFC 7541
// section 6.1) and points it at a static array instead. Reader only,
// between header blocks.
func (d *decoder) unpin() {
	if !d.pinned {
		return
	}
	d.pinned = false
	d.hd.SetEmitEnabled(false)
	d.hd.Write(unpinBlock[:]) // cannot fail: see unpinBlock
	d.hd.Close()
	d.hd.SetEmitEnabled(true)
}

// unpinBlock is the header block unpin decodes: static table entry 2,
// ":method: GET", as an indexed field, which no decoder state can refuse
// (its strings are far below the decoder's limit, MaxHeaderListSize,
// which is at least 1 KiB).
var unpinBlock = [1]byte{0x82}

// forget empties the memo: the table changed.
func (d *decoder) forget() {
	if d.n != 0 {
		d.memo = [memoLen]*blockMemo{}
		d.n = 0
	}
}

// tableNeutral reports whether decoding block leaves the dynamic table
// as it was: it holds only indexed fields (RFC 7541 section 6.1) and
// literals without indexing or never indexed (sections 6.2.2, 6.2.3),
// and it is well formed as far as their lengths go. A literal with
// incremental indexing (6.2.1) or a size update (6.3) changes the table.
func tableNeutral(block []byte) bool {
	p := block
	for len(p) > 0 {
		b := p[0]
		var ok bool
		switch {
		case b&0x80 != 0: // indexed
			_, p, ok = hpackInt(p, 7)
		case b&0xc0 == 0x40, b&0xe0 == 0x20: // incremental indexing, size update
			return false
		default: // 0000xxxx without indexing, 0001xxxx never indexed
			var idx uint64
			if idx, p, ok = hpackInt(p, 4); ok && idx == 0 {
				p, ok = skipHpackString(p) // a literal name
			}
			if ok {
				p, ok = skipHpackString(p)
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// hpackInt reads an integer with an n-bit prefix (RFC 7541 section 5.1)
// and returns the rest of p; false if p ends first or the value would
// not fit in 32 bits (no header block we accept needs more).
func hpackInt(p []byte, n uint) (v uint64, rest []byte, ok bool) {
	if len(p) == 0 {
		return 0, nil, false
	}
	mask := uint64(1)<<n - 1
	v = uint64(p[0]) & mask
	p = p[1:]
	if v < mask {
		return v, p, true
	}
	for shift := uint(0); len(p) > 0 && shift < 32; shift += 7 {
		b := p[0]
		p = p[1:]
		v += uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v, p, v < 1<<32
		}
	}
	return 0, nil, false
}

// skipHpackString skips a string literal (RFC 7541 section 5.2).
func skipHpackString(p []byte) ([]byte, bool) {
	n, p, ok := hpackInt(p, 7)
	if !ok || n > uint64(len(p)) {
		return nil, false
	}
	return p[n:], true
}
