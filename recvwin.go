package h2server

import (
	"sync/atomic"
	"time"
)

// Receive windows that grow with the path, inside a memory budget.
//
// An upload never has more bytes in flight than the window we advertise,
// so its speed is at most window / round trip: 256 KiB over a 50 ms path
// is 5 MiB/s, whatever the link. Each stream's window therefore grows
// while the window, and not the handler or the sender, is what limits it,
// and the connection window grows with the streams' windows.
//
// The test is the one QUIC receivers use (Chromium's flow controller):
// a stream gives credit back each time its handler has read a quarter of
// the window. When that happens again less than half a round trip after
// the previous time, the handler reads more than two windows per round
// trip, which the sender can only send if the window is smaller than
// twice the path's bandwidth-delay product. The window then grows to that
// estimate at once (a quarter per elapsed is the rate; see growthFactor),
// by 2 to 64 times, up to MaxStreamWindowSize: doubling per round trip,
// as Chromium does, left a 50 ms upload at 72% of a 1 Gbit/s link in the
// first 64 MiB, the jump at 84%. A window of about twice the product
// results, enough for the credit, returned a quarter at a time, to reach
// the sender before it runs dry. A stream whose handler does not read
// sends no credit and never grows; one whose handler reads slowly sends
// it too seldom.
//
// The round trip is the time from our SETTINGS to the client's
// acknowledgement (which clients send on receipt): measured once per
// connection, at the HTTP/2 level, so it covers a proxy in between,
// which the kernel's own TCP estimate would not. No PING is sent for it.
//
// A stream that goes quiet (no credit for a second and four round trips)
// is not credited in full when it wakes: its window halves, down to
// where it started, so that a burst does not leave a large promise
// behind. When a stream ends, what it had grown is freed.
//
// The budget (Server.ReceiveBudget) is server-wide: the bytes buffered
// for handlers that have not read them yet, plus the growth of every
// window beyond its initial size. A window grows only if the budget
// holds the growth. Past the budget, the connection window, credited as
// soon as DATA arrives while the budget holds, is credited only as
// handlers read (each connection keeps a count of the credit it owes):
// new credit then goes to connections whose handlers read, and a
// connection whose handlers do not can make us hold at most its
// connection window more. So the bytes held for handlers stay below
// ReceiveBudget plus, per connection, its connection window at the time
// (InitialConnWindowSize and its share of the growth, which the budget
// counts).

// Defaults of the window fields.
const (
	defaultMaxStreamWindow = 16 << 20
	defaultReceiveBudget   = 256 << 20
)

// recvBudget is the server-wide count of bytes held for handlers and of
// window growth; see above.
type recvBudget struct {
	used atomic.Int64
}

// take charges up to n bytes of growth, as much as the budget holds,
// and returns how much.
func (b *recvBudget) take(n, limit int64) int64 {
	for {
		u := b.used.Load()
		m := min(n, limit-u)
		if m <= 0 {
			return 0
		}
		if b.used.CompareAndSwap(u, u+m) {
			return m
		}
	}
}

// pressed reports whether the budget is spent: the connection window is
// then credited as handlers read, not as DATA arrives.
func (b *recvBudget) pressed(limit int64) bool { return b.used.Load() >= limit }

// nowMicros is the time in microseconds since processStart, wrapping
// after 71 minutes (compared by subtraction).
func nowMicros() uint32 { return uint32(time.Since(processStart) / time.Microsecond) }

// quietAfter is how long a stream must go without giving credit before
// it counts as quiet, at least.
const quietAfter = time.Second

// creditLocked records that the handler consumed n bytes of the stream
// and returns the WINDOW_UPDATE increments to send for the stream and
// the connection (0: none). It grows or shrinks the window as described
// above. recv.mu held, the stream still reading.
func (st *Stream) creditLocked(n int) (streamIncr, connIncr uint32) {
	r := &st.recv
	r.flow.unacked += int32(n)
	if r.flow.unacked < max(r.win/4, 1) {
		return 0, 0
	}
	c := st.c
	incr := r.flow.unacked
	r.flow.unacked = 0
	now := nowMicros()
	elapsed := time.Duration(now-r.updAt) * time.Microsecond
	r.updAt = now
	rtt := time.Duration(c.srtt.Load()) * time.Microsecond
	initial := c.cfg.initialStreamWindow
	switch {
	case rtt > 0 && elapsed < rtt/2 && r.win < c.cfg.maxStreamWindow:
		// Read faster than the window can refill: grow.
		want := min(int64(r.win)*int64(growthFactor(rtt, elapsed)-1), int64(c.cfg.maxStreamWindow-r.win))
		if grow := int32(c.srv.recv.take(want, c.cfg.receiveBudget)); grow > 0 {
			r.win += grow
			incr += grow
			connIncr = c.growConnWindow(grow)
		}
	case r.win > initial && elapsed > max(quietAfter, 4*rtt):
		// Quiet, then awake: take back half of the growth, out of
		// the credit this update would return.
		shrink := min(r.win-max(r.win/2, initial), incr)
		r.win -= shrink
		incr -= shrink
		c.srv.recv.used.Add(-int64(shrink))
		c.connOwed.Add(-int64(shrink)) // the connection window keeps the surplus
	}
	r.flow.avail += incr
	// Credit the connection owes (under budget pressure) goes back as
	// the handlers read.
	connIncr += c.payOwed(int64(incr))
	return uint32(incr), connIncr
}

// creditData credits the connection window for a DATA frame that
// arrived, of which held bytes wait in a stream's buffer for its handler:
// all of it at once while the budget holds; past it, the held bytes are
// owed until the handler reads them (Stream.creditLocked). Reader only.
func (c *conn) creditData(now, held int) {
	x := int64(now)
	pressed := c.srv.recv.pressed(c.cfg.receiveBudget)
	if held > 0 {
		if pressed {
			c.connOwed.Add(int64(held))
		} else {
			x += int64(held)
		}
	}
	for {
		o := c.connOwed.Load()
		var m int64
		switch {
		case o < 0: // a surplus: keep it out of this credit
			m = -min(x, -o)
		case o > 0 && !pressed: // owed, and the budget holds again
			m = o
		}
		if m == 0 {
			break
		}
		if c.connOwed.CompareAndSwap(o, o-m) {
			x += m
			break
		}
	}
	f := &c.rd.inflow
	f.unacked += int32(x)
	if f.unacked < c.cfg.initialConnWindow/4 {
		return
	}
	incr := int64(f.unacked)
	f.unacked = 0
	if incr = int64(c.creditConn(incr)); incr > 0 {
		c.wq.push(writeItem{kind: itemWindowUpdate, id: 0, n: uint32(incr)})
	}
}

// maxGrowth is the most a window grows by at once: a factor of 64.
const maxGrowth = 64

// growthFactor is how many times larger a window should be, when a
// quarter of it was read in elapsed: a quarter per elapsed is the rate
// the path delivers at, and twice its bandwidth-delay product is a window
// of rtt/(2 elapsed) times the current one. It is at least 2 (the sender
// was held back: the window doubles at the least) and at most maxGrowth,
// enough to go from the initial 256 KiB to 16 MiB in one step, while a
// burst read out of the buffer at once, which says little of the path,
// grows a window no more than that from one reading. Jumping straight to
// the estimate, rather than doubling a round trip at a time, is what lets
// a transfer over a long path reach its speed within a round trip or two.
func growthFactor(rtt, elapsed time.Duration) int32 {
	if elapsed <= 0 {
		return maxGrowth
	}
	return int32(min(max(rtt/(2*elapsed), 2), maxGrowth))
}

// sendCredit queues the WINDOW_UPDATEs creditLocked asked for. The
// stream's goes with st, so that the writer can drop it if it has reset
// the stream meanwhile (a handler's Read and the writer's reset for a
// stall race).
func (c *conn) sendCredit(st *Stream, streamIncr, connIncr uint32) {
	if streamIncr > 0 {
		c.wq.push(writeItem{kind: itemWindowUpdate, st: st, id: st.id, n: streamIncr})
	}
	if connIncr > 0 {
		c.wq.push(writeItem{kind: itemWindowUpdate, id: 0, n: connIncr})
	}
}

// growConnWindow grows the connection window with a stream's: by n,
// less the surplus it has from streams that shrank or ended. It returns
// the increment to send.
func (c *conn) growConnWindow(n int32) uint32 {
	x := int64(n)
	for {
		o := c.connOwed.Load()
		if o >= 0 {
			break
		}
		m := min(x, -o)
		if c.connOwed.CompareAndSwap(o, o+m) {
			x -= m
			break
		}
	}
	return c.creditConn(x)
}

// payOwed returns up to n bytes of the credit the connection owes, and
// returns the increment to send.
func (c *conn) payOwed(n int64) uint32 {
	for {
		o := c.connOwed.Load()
		if o <= 0 || n <= 0 {
			return 0
		}
		m := min(n, o)
		if c.connOwed.CompareAndSwap(o, o-m) {
			return c.creditConn(m)
		}
	}
}

// creditConn adds x to the connection window as the reader sees it,
// clamped to the largest window, and returns the increment to send.
func (c *conn) creditConn(x int64) uint32 {
	if x <= 0 {
		return 0
	}
	for {
		a := c.rd.inflow.avail.Load()
		x = min(x, maxWindow-int64(a))
		if x <= 0 {
			return 0
		}
		if c.rd.inflow.avail.CompareAndSwap(a, a+int32(x)) {
			return uint32(x)
		}
	}
}

// dropBodyLocked discards the request body buffered for the handler:
// its bytes leave the budget, and credit the connection owed for them
// goes back. recv.mu held.
func (st *Stream) dropBodyLocked() {
	r := &st.recv
	if held := r.buf.Len(); held > 0 {
		st.c.srv.recv.used.Add(-int64(held))
		if incr := st.c.payOwed(int64(held)); incr > 0 {
			st.c.wq.push(writeItem{kind: itemWindowUpdate, id: 0, n: incr})
		}
	}
	r.buf.reset()
	r.dst, r.got = nil, 0
}

// endWindowLocked frees what the stream's window grew, as the stream
// ends: from the budget, and as surplus of the connection window.
// recv.mu held.
func (st *Stream) endWindowLocked() {
	r := &st.recv
	if g := r.win - st.c.cfg.initialStreamWindow; g > 0 {
		st.c.srv.recv.used.Add(-int64(g))
		st.c.connOwed.Add(-int64(g))
	}
	r.win = 0
}
