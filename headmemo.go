package h2server

import (
	"net/http"
	"slices"
	"sync/atomic"
	"unsafe"

	"golang.org/x/net/http2/hpack"
)

// headMemos remembers final response heads built from the same
// http.Header, per Server. WriteHeaders allows a handler to pass one
// header for every response (a constant head built once), and then
// building the head each time (lowering, checking and sorting its keys,
// and a pooled array for the fields) was a ninth of the CPU of a small
// response. A memo holds the head with a copy of the header's keys and
// values: a later WriteHeaders with the same map, whose keys and values
// are still those, takes the memo's fields, which streams share and
// nobody changes. A head is remembered the second time in a row that its
// map is seen in its slot, so that handlers that build a new header per
// response (and the net/http adapter, which never asks) make no copies.
type headMemos struct {
	slot [headMemoSlots]atomic.Pointer[headMemo]
	last [headMemoSlots]atomic.Pointer[byte] // the map last built from, per slot, by its pointer
}

type headMemo struct {
	header   http.Header // compared by identity; held so that its address is not reused
	status   int
	keys     []string
	vals     [][]string // copies of header's values, by key
	fields   []hpack.HeaderField
	declared int64
}

const (
	headMemoSlots   = 4
	headMemoMaxKeys = 8
)

// mapPointer is the one pointer word of a map value.
func mapPointer(h http.Header) *byte { return *(**byte)(unsafe.Pointer(&h)) }

func headSlot(p *byte) int { return int(uintptr(unsafe.Pointer(p))>>6) % headMemoSlots }

// lookup returns the memo of the head of status and h, nil if none holds.
func (hm *headMemos) lookup(status int, h http.Header) *headMemo {
	if hm == nil || len(h) == 0 || len(h) > headMemoMaxKeys {
		return nil
	}
	p := mapPointer(h)
	m := hm.slot[headSlot(p)].Load()
	if m == nil || mapPointer(m.header) != p || m.status != status || len(m.keys) != len(h) {
		return nil
	}
	// As many keys, and each of the memo's with its values: the same
	// header. Lookups, not a range over h, whose random start costs
	// more than a small map's lookups (which compare keys, unhashed).
	for i, k := range m.keys {
		if vv, ok := h[k]; !ok || !slices.Equal(m.vals[i], vv) {
			return nil
		}
	}
	return m
}

// remember notes that the head of status and h was built as fields, and
// keeps it if h was the last map built from in its slot.
func (hm *headMemos) remember(status int, h http.Header, fields []hpack.HeaderField, declared int64) {
	if hm == nil || len(h) == 0 || len(h) > headMemoMaxKeys {
		return
	}
	p := mapPointer(h)
	s := headSlot(p)
	if hm.last[s].Load() != p {
		hm.last[s].Store(p)
		return
	}
	m := &headMemo{
		header:   h,
		status:   status,
		keys:     make([]string, 0, len(h)),
		vals:     make([][]string, 0, len(h)),
		fields:   slices.Clip(slices.Clone(fields)),
		declared: declared,
	}
	for k, vv := range h {
		m.keys = append(m.keys, k)
		m.vals = append(m.vals, slices.Clone(vv))
	}
	hm.slot[s].Store(m)
}
