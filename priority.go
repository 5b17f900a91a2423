package h2server

import (
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Extensible priorities (RFC 9218). A request says how urgent it is in a
// "priority" header field, and the client may change its mind with a
// PRIORITY_UPDATE frame: urgency 0 (most urgent) to 7, default 3, and
// whether the response is useful incrementally. The writer keeps one ring
// of ready streams per urgency and always serves the most urgent non-empty
// ring: incremental streams take turns a frame at a time, the others are
// sent one after another, as section 10 suggests. Streams whose client
// said nothing about priority (Go's client, curl, gRPC) all take turns:
// sending them one after another would let one long response starve the
// rest. RFC 7540's dependency
// tree is deprecated (RFC 9113 section 5.3): we say so with
// SETTINGS_NO_RFC7540_PRIORITIES and ignore PRIORITY frames.

// priority is a stream's RFC 9218 priority.
type priority struct {
	urgency     uint8 // 0..7
	incremental bool
	signalled   bool // the client sent a priority: honour "not incremental"
}

var defaultPriority = priority{urgency: 3}

// parsePriority reads a Priority field value (a structured-field
// dictionary, RFC 9218 section 4) over base. Members it does not know,
// and values out of range, are ignored, as section 4 requires.
func parsePriority(v string, base priority) priority {
	p := base
	p.signalled = true
	for member := range strings.SplitSeq(v, ",") {
		member = strings.TrimSpace(member)
		if i := strings.IndexByte(member, ';'); i >= 0 {
			member = member[:i] // parameters carry nothing for us
		}
		key, val, hasVal := strings.Cut(member, "=")
		switch key {
		case "u":
			if len(val) == 1 && '0' <= val[0] && val[0] <= '7' {
				p.urgency = val[0] - '0'
			}
		case "i":
			switch {
			case !hasVal || val == "?1":
				p.incremental = true
			case val == "?0":
				p.incremental = false
			}
		}
	}
	return p
}

// requestPriority is the priority a request asks for in its header.
func requestPriority(fields []hpack.HeaderField) priority {
	p := defaultPriority
	for _, f := range fields {
		if f.Name == "priority" {
			p = parsePriority(f.Value, p)
		}
	}
	return p
}

// onPriorityUpdate applies a PRIORITY_UPDATE frame (RFC 9218 section 7.1)
// to an open stream; for streams not open it is dropped, which section
// 7.1 allows. Like PRIORITY, it is charged to the glitch budget.
func (c *conn) onPriorityUpdate(f *http2.PriorityUpdateFrame) error {
	id := f.PrioritizedStreamID
	if id%2 == 0 {
		// Section 7.1: a client may only prioritize its own streams.
		return connError{ErrCodeProtocol, "priority_update_even_stream"}
	}
	if st, _ := c.lookup(id); st != nil {
		c.wq.push(writeItem{kind: itemPriority, st: st, n: uint32(encodePriority(parsePriority(f.Priority, defaultPriority)))})
	}
	return c.glitch("priority_update")
}

func encodePriority(p priority) uint8 {
	b := p.urgency
	if p.incremental {
		b |= 8
	}
	if p.signalled {
		b |= 16
	}
	return b
}

func decodePriority(b uint8) priority {
	return priority{urgency: b & 7, incremental: b&8 != 0, signalled: b&16 != 0}
}

// readyRings is the writer's set of ready streams, one FIFO per urgency.
// The rings are made when a stream first joins, and dropped when the
// writer goroutine retires with none: an idle connection does not keep
// their 320 bytes.
type readyRings struct {
	rings *[8]streamRing
	n     int
}

// push adds st unless it is in a ring already: a stream takes one turn
// per round however many events (its handler's Flush, a WINDOW_UPDATE, a
// SETTINGS change) ask for it meanwhile.
func (r *readyRings) push(st *Stream) { r.add(st, false) }

// pushFront puts st at the head of its ring, unless it is in one.
func (r *readyRings) pushFront(st *Stream) { r.add(st, true) }

func (r *readyRings) add(st *Stream, front bool) {
	if st.out.inRing {
		return
	}
	st.out.inRing = true
	if r.rings == nil {
		r.rings = new([8]streamRing)
	}
	if front {
		r.rings[st.out.prio.urgency].pushFront(st)
	} else {
		r.rings[st.out.prio.urgency].push(st)
	}
	r.n++
}

// next pops the stream to serve: the head of the most urgent ring.
func (r *readyRings) next() *Stream {
	if r.n == 0 {
		return nil
	}
	for i := range r.rings {
		if r.rings[i].n > 0 {
			r.n--
			st := r.rings[i].pop()
			st.out.inRing = false
			return st
		}
	}
	return nil
}

// requeue puts back a stream that has more to send: an incremental one
// behind its peers, a non-incremental one at the head, to be finished
// first.
func (r *readyRings) requeue(st *Stream) {
	r.add(st, !st.out.prio.incremental && st.out.prio.signalled)
}
