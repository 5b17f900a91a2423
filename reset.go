package h2server

import "time"

// Streams we reset, remembered for a while.
//
// A client that sends a request body keeps sending until our RST_STREAM
// reaches it: a handler that answers 413 without reading an upload is
// followed by up to a window of DATA frames, all sent in good faith. RFC
// 9113 section 5.1 (closed) has us ignore them: "An endpoint MUST ignore
// frames that it receives on closed streams after it has sent a
// RST_STREAM frame". Section 5.4.2 adds that we answer no more than one
// RST_STREAM per stream. So each stream we reset is remembered with the
// window the client still had on it; frames within that window, and one
// set of trailers, are dropped quietly (the connection window is still
// credited, see conn.admitData); only what no honest client sends is
// charged to the glitch budget. The record is bounded in count
// (config.maxResetStreams, the oldest forgotten first) and in age
// (resetMemory): a forgotten stream's late frames get STREAM_CLOSED, as
// any frame on a closed stream does.

// resetMemory is how long a reset stream is remembered: far longer than
// any round trip, so that what was in flight has arrived.
const resetMemory = 10 * time.Second

// resetStreams is the record; guarded by conn.mu.
type resetStreams struct {
	ents []resetEntry // oldest first
}

type resetEntry struct {
	id     uint32
	credit int32         // DATA bytes (with padding) the client may still send
	at     time.Duration // when we reset it, since processStart
	ended  bool          // the client ended its side: nothing more may follow
}

// add remembers that we reset stream id, with credit bytes of window left
// to the client; a stream already remembered keeps its entry.
func (r *resetStreams) add(id uint32, credit int32, limit int) {
	now := time.Since(processStart)
	r.expire(now)
	if r.find(id) != nil {
		return
	}
	if len(r.ents) >= limit {
		n := copy(r.ents, r.ents[1:])
		r.ents = r.ents[:n]
	}
	r.ents = append(r.ents, resetEntry{id: id, credit: max(credit, 0), at: now})
}

// find returns the entry of stream id, or nil.
func (r *resetStreams) find(id uint32) *resetEntry {
	for i := len(r.ents) - 1; i >= 0; i-- {
		if r.ents[i].id == id {
			return &r.ents[i]
		}
	}
	return nil
}

// expire forgets the entries older than resetMemory, and the array once
// it is empty.
func (r *resetStreams) expire(now time.Duration) {
	i := 0
	for i < len(r.ents) && now-r.ents[i].at >= resetMemory {
		i++
	}
	if i == len(r.ents) {
		r.ents = nil
		return
	}
	if i > 0 {
		n := copy(r.ents, r.ents[i:])
		r.ents = r.ents[:n]
	}
}

// inFlight judges a frame the client sent on a closed stream: n bytes of
// DATA (0 for a header block), ending the client's side or not. known
// reports whether we reset the stream recently; honest, whether the frame
// is one a client may have sent before our RST_STREAM reached it, which
// uses up that much of what it may still send. Guarded by conn.mu.
func (r *resetStreams) inFlight(id, n uint32, end bool) (known, honest bool) {
	r.expire(time.Since(processStart))
	e := r.find(id)
	if e == nil {
		return false, false
	}
	if e.ended || n > uint32(e.credit) {
		return true, false
	}
	e.credit -= int32(n)
	e.ended = end
	return true, true
}

// maxResetStreams bounds the record: twice the streams a client may have
// open, so that every stream of a full connection reset at once fits.
func (cfg *config) maxResetStreams() int {
	return int(min(max(2*cfg.maxConcurrentStreams, 32), 2048))
}
