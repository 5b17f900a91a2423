package h2server

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// poller parks idle connections (see park_linux.go): a Server has one,
// its zero value ready. Its epoll instance and goroutine exist only
// while some connection is parked.
type poller struct {
	mu     sync.Mutex
	ep     *epoll           // guarded by mu: nil while nothing is parked
	parked map[uint64]*conn // guarded by mu: by registration token
	next   uint64           // guarded by mu: the last token given
	// A failed epoll_create1 (most likely the process is out of
	// descriptors) turns parking off until retryAt, so that a machine in
	// that state is asked again at most once per parkRetryDelay, not by
	// every connection that goes idle. The streak is logged once.
	failing bool      // guarded by mu: the last attempt to create ep failed
	retryAt time.Time // guarded by mu: when failing, the next attempt
	broken  bool      // guarded by mu: epoll is unsupported here; park no more

	// Tests set these before serving; nil means newEpoll and time.Now.
	create func() (*epoll, error)
	now    func() time.Time
}

// parkRetryDelay is how long parking stays off after epoll_create1 failed.
const parkRetryDelay = time.Second

func (p *poller) createEpoll() (*epoll, error) {
	if p.create != nil {
		return p.create()
	}
	return newEpoll()
}

func (p *poller) clock() time.Time {
	if p.now != nil {
		return p.now()
	}
	return time.Now()
}

// When a reader parks. It may park only between frames, with nothing
// buffered, no header block under way, no stream open, and the
// connection not closing. Then:
//
//   - a connection that has carried no stream since it last parked (or
//     since it opened) parks as soon as its socket is empty (over TLS:
//     as soon as a read of its TLS layer times out): it was woken
//     only by control frames (SETTINGS, PING, WINDOW_UPDATE), or it is a
//     connection opened ahead of need, and nothing says more is coming;
//   - one that has carried a stream parks after about parkDelay without
//     a stream or input: a client between two requests would otherwise
//     pay a park and a wake-up, a few system calls and a goroutine start,
//     per request. The delay is a read deadline (conn.armPark), armed by
//     the reader when it waits with no stream open, or by the stream
//     whose end leaves the connection idle while the reader waits; when
//     it passes, the reader parks if it still may, and reads on if not.
//     It is armed at most once per parkDelay, so a busy connection pays
//     for it rarely.
type parkMode uint8

const (
	parkNever parkMode = iota
	parkNow
	parkLater
)

// parkDelay is how long a connection that carried a stream must wait for
// input before its reader parks.
const parkDelay = 100 * time.Millisecond

// parkHook, set by tests, sees the parking events of every connection:
// "park", "wake" (the socket became readable), "unpark" (a closing path
// took a parked connection out), "refused" (no epoll instance, for now
// or for good: the reader reads on), and, with a nil conn, "timeout" (a
// parkLater deadline passed while the reader could not park: mid-frame,
// or with a stream open).
var parkHook atomic.Pointer[func(c *conn, event string)]

func parkEvent(c *conn, event string) {
	if h := parkHook.Load(); h != nil {
		(*h)(c, event)
	}
}

// errPark, from the read loop, asks readAndEnd to park the connection.
var errPark = errors.New("h2server: park the idle connection")

// park registers c's socket for readability. It reports false when c
// must go on reading on the calling goroutine instead: closing, or epoll
// unavailable (see startLocked).
func (p *poller) park(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.noPark.Load() {
		return false
	}
	if p.ep == nil && !p.startLocked(c) {
		parkEvent(c, "refused")
		return false
	}
	p.next++
	if err := p.ep.add(c.raw, p.next); err != nil {
		// The socket closed meanwhile: the reader finds out by reading.
		p.stopIfEmptyLocked()
		return false
	}
	p.parked[p.next] = c
	c.parkTok = p.next
	parkEvent(c, "park")
	return true
}

// startLocked creates the epoll instance and starts its loop, unless
// epoll is unsupported or failed less than parkRetryDelay ago. c is the
// connection asking, for the log.
func (p *poller) startLocked(c *conn) bool {
	if p.broken || p.failing && p.clock().Before(p.retryAt) {
		return false
	}
	ep, err := p.createEpoll()
	if errors.Is(err, errors.ErrUnsupported) {
		p.broken = true
		c.logger().Warn("h2server: cannot park idle connections; each keeps its reader goroutine", "err", err)
		return false
	}
	if err != nil {
		if !p.failing {
			c.logger().Warn("h2server: cannot park idle connections for now; those going idle meanwhile keep their reader goroutines",
				"err", err, "retry_in", parkRetryDelay)
		}
		p.failing, p.retryAt = true, p.clock().Add(parkRetryDelay)
		return false
	}
	if p.failing {
		p.failing = false
		c.logger().Info("h2server: parking idle connections again")
	}
	p.ep = ep
	p.parked = make(map[uint64]*conn)
	go p.loop(ep)
	return true
}

// unpark forbids c to park from now on and, if it is parked, takes it out
// of the epoll set and starts its reader again. Paths that close or
// half-close the socket call it first, so that the reader sees what they
// did and the socket leaves the set before its descriptor can be reused.
func (p *poller) unpark(c *conn) {
	p.mu.Lock()
	c.noPark.Store(true)
	c = p.takeLocked(c.parkTok)
	p.mu.Unlock()
	if c != nil {
		parkEvent(c, "unpark")
		go c.readAndEnd()
	}
}

// takeLocked removes the registration tok, if it is still there, and
// returns its connection.
func (p *poller) takeLocked(tok uint64) *conn {
	c := p.parked[tok]
	if c == nil {
		return nil
	}
	delete(p.parked, tok)
	c.parkTok = 0
	p.ep.del(c.raw)
	p.stopIfEmptyLocked()
	return c
}

// stopIfEmptyLocked closes the epoll instance, and so ends the loop, when
// nothing is parked.
func (p *poller) stopIfEmptyLocked() {
	if len(p.parked) == 0 && p.ep != nil {
		p.ep.close()
		p.ep, p.parked = nil, nil
	}
}

// loop resumes parked connections as their sockets become readable, until
// ep is closed.
func (p *poller) loop(ep *epoll) {
	var toks []uint64
	for {
		var err error
		toks, err = ep.wait(toks[:0])
		if err != nil {
			return
		}
		for _, tok := range toks {
			p.mu.Lock()
			c := p.takeLocked(tok)
			p.mu.Unlock()
			if c != nil {
				parkEvent(c, "wake")
				go c.readAndEnd()
			}
		}
	}
}
