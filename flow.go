package h2server

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Flow control (RFC 9113 section 5.2 and 6.9).
//
// Inbound windows are the ones we advertise. The connection window is
// credited back as soon as DATA arrives (see conn.admitData), so one
// handler that reads slowly never stalls its neighbours; what bounds
// memory is each stream's window, which is credited only as the handler
// reads, and, past the server's receive budget, the connection window too
// (recvwin.go, which also grows the windows).
//
// Outbound windows are the ones the peer grants us. They belong to the
// writer goroutine, which is the only code that spends them.

// maxWindow is the largest flow-control window RFC 9113 section 6.9.1 allows.
const maxWindow = 1<<31 - 1

// defaultWindow is the initial window of RFC 9113 section 6.9.2, in
// force until SETTINGS say otherwise.
const defaultWindow = 65535

// inflow is a window we advertised: how much the peer may still send, and
// how much we have consumed but not yet given back.
type inflow struct {
	avail   int32 // bytes the peer may still send before our next WINDOW_UPDATE
	unacked int32 // bytes consumed locally, not yet returned by WINDOW_UPDATE
}

// take spends n bytes of the window for a DATA frame that arrived. It
// reports false when the peer sent more than we allowed.
// The window may be negative after our SETTINGS lowered it (see
// conn.onSettingsAck).
func (f *inflow) take(n uint32) bool {
	if int64(n) > int64(f.avail) {
		return false
	}
	f.avail -= int32(n)
	return true
}

// give records that n bytes were consumed and returns the WINDOW_UPDATE
// increment to send now, or 0 while the total stays below threshold.
// Batching keeps a stream of small reads from becoming a stream of
// WINDOW_UPDATE frames.
func (f *inflow) give(n int, threshold int32) uint32 {
	f.unacked += int32(n)
	if f.unacked < threshold {
		return 0
	}
	incr := f.unacked
	f.unacked = 0
	f.avail += incr
	return uint32(incr)
}

// connInflow is the connection window we advertised. The reader takes
// from avail and credits what arrives; handlers credit it too (credit
// owed under budget pressure, and growth, recvwin.go), so avail is
// atomic. unacked is the reader's alone.
type connInflow struct {
	avail   atomic.Int32
	unacked int32
}

// take is inflow.take for the reader: others only add to avail.
func (f *connInflow) take(n uint32) bool {
	if int64(n) > int64(f.avail.Load()) {
		return false
	}
	f.avail.Add(-int32(n))
	return true
}

// outflow is a window the peer granted us. A stream's window may go
// negative when the peer lowers SETTINGS_INITIAL_WINDOW_SIZE (RFC 9113
// section 6.9.2).
type outflow int32

// add applies a WINDOW_UPDATE increment or a SETTINGS delta; it reports
// false if the window would pass 2^31-1, a FLOW_CONTROL_ERROR.
func (f *outflow) add(n int64) bool {
	sum := int64(*f) + n
	if sum > maxWindow {
		return false
	}
	*f = outflow(sum)
	return true
}

// sendCredit is the connection's send window as handlers see it: what the
// peer granted, less what handlers have buffered and the writer has not
// sent yet. Write takes credit for every byte it buffers, so the response
// bodies a connection holds never exceed its connection window (nor, per
// stream, the stream window): a client that withholds its connection
// window makes every handler wait with nothing buffered, instead of
// 128 KiB on each stream. Buffered bytes always fit the writer's window,
// so the writer never waits on the connection window with data in hand.
// The writer gives credit back on the peer's WINDOW_UPDATE and for
// buffered bytes it drops.
//
// The credit starts sendCreditSlack above the window, so that the writer
// has a choice of streams to serve by priority even when a small
// connection window is spent by whichever stream wrote first: buffered
// bodies stay within the connection window plus that slack, and bytes
// past the window wait with the writer (which resets a stream stuck so
// for StallTimeout, writer.stall).
type sendCredit struct {
	mu      sync.Mutex
	avail   int64          // guarded by mu
	waiters []creditWaiter // guarded by mu: Writes waiting for credit
}

// creditWaiter is a Write waiting for credit, and what the writer set
// aside for it.
type creditWaiter struct {
	st    *Stream
	grant int64
}

// sendCreditSlack is how far buffered response bodies may run ahead of the
// connection window: two streams' send buffers (256 KiB), so that RFC
// 9218's order holds among the first few streams even when a small window
// is spent.
const sendCreditSlack = 2 * sendBufferSize

// take grants up to n bytes of credit to st: what the writer set aside
// for it, or what is free. With none, st waits its turn (give).
func (sc *sendCredit) take(st *Stream, n int) int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if i := sc.find(st); i >= 0 {
		grant := sc.waiters[i].grant
		if grant == 0 {
			return 0
		}
		g := min(int64(n), grant)
		sc.avail += grant - g // what it does not need goes back
		sc.waiters = slices.Delete(sc.waiters, i, i+1)
		return int(g)
	}
	if sc.avail <= 0 {
		sc.waiters = append(sc.waiters, creditWaiter{st: st})
		return 0
	}
	g := min(int64(n), sc.avail)
	sc.avail -= g
	return int(g)
}

func (sc *sendCredit) find(st *Stream) int {
	return slices.IndexFunc(sc.waiters, func(w creditWaiter) bool { return w.st == st })
}

// give returns n bytes of credit and hands what is free to the waiting
// Writes, most urgent first (RFC 9218), up to a send buffer each: when the
// connection window is scarce, its next bytes go where the writer would
// send them first. Writer only: it reads the waiters' priorities.
func (sc *sendCredit) give(n int64) {
	sc.mu.Lock()
	sc.avail += n
	var woken []*Stream
	if sc.avail > 0 && len(sc.waiters) > 0 {
		// Stable: FIFO within an urgency.
		slices.SortStableFunc(sc.waiters, func(a, b creditWaiter) int {
			return int(a.st.out.prio.urgency) - int(b.st.out.prio.urgency)
		})
		for i := range sc.waiters {
			w := &sc.waiters[i]
			if w.grant > 0 {
				continue
			}
			w.grant = min(sc.avail, sendBufferSize)
			sc.avail -= w.grant
			woken = append(woken, w.st)
			if sc.avail == 0 {
				break
			}
		}
	}
	sc.mu.Unlock()
	for _, st := range woken {
		st.send.mu.Lock()
		wake(st.send.wake)
		st.send.mu.Unlock()
	}
}

// forget drops st from the waiters once its send side is done, giving
// back what was set aside for it. Writer only.
func (sc *sendCredit) forget(st *Stream) {
	sc.mu.Lock()
	i := sc.find(st)
	var grant int64
	if i >= 0 {
		grant = sc.waiters[i].grant
		sc.waiters = slices.Delete(sc.waiters, i, i+1)
	}
	sc.mu.Unlock()
	if grant > 0 {
		sc.give(grant)
	}
}

// empty reports whether Writes must wait for the peer's WINDOW_UPDATE.
func (sc *sendCredit) empty() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.avail <= 0
}

// drop forgets the waiters, at teardown.
func (sc *sendCredit) drop() {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.waiters = nil
}
