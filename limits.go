package h2server

import (
	"errors"
	"time"
)

// streamFailed answers a stream error with RST_STREAM (section 5.4.2).
// Every reset we are made to send is a glitch: a client that provokes
// them on purpose ("MadeYouReset") runs out of budget. Reader only.
func (c *conn) streamFailed(se streamError) error {
	c.logStreamError(se.StreamID, se.Code, se.Reason)
	st, _ := c.lookup(se.StreamID)
	if st == nil {
		// One RST_STREAM per stream (section 5.4.2): later frames on it
		// are judged by the record (reset.go), not answered again.
		c.noteReset(se.StreamID, false)
		c.wq.push(writeItem{kind: itemReset, id: se.StreamID, code: se.Code})
	} else if st.fail(&StreamError{StreamID: se.StreamID, Code: se.Code, Cause: errors.New(se.Reason)}) {
		c.wq.push(writeItem{kind: itemReset, st: st, id: se.StreamID, code: se.Code, always: true})
	}
	// else the stream failed already, and its RST_STREAM is queued.
	return c.glitch(se.Reason)
}

// glitch charges the connection's budget for a frame that costs us work
// and moves no request forward: a reset stream, an empty DATA or
// CONTINUATION frame, a PRIORITY or unknown frame, a stream error. The
// budget is a token bucket of MaxGlitchesPerMinute tokens that refills at
// that rate; an empty bucket is a connection error ENHANCE_YOUR_CALM.
// Reader only.
func (c *conn) glitch(reason string) error {
	limit := float64(c.cfg.maxGlitchesPerMinute)
	now := time.Since(processStart)
	if c.rd.glitchAt == 0 {
		c.rd.glitches = limit
	} else {
		c.rd.glitches = min(limit, c.rd.glitches+(now-c.rd.glitchAt).Minutes()*limit)
	}
	c.rd.glitchAt = now
	c.rd.glitches--
	if c.rd.glitches < 0 {
		c.logger().Info("h2server: glitch budget exhausted", "last", reason, "budget_per_minute", c.cfg.maxGlitchesPerMinute)
		return connError{ErrCodeEnhanceYourCalm, "too_many_glitches"}
	}
	return nil
}

// startHandler runs st's handler, or queues it while MaxConcurrentStreams
// handlers are running. Streams the client reset stop counting against
// MAX_CONCURRENT_STREAMS at once, but their handlers may still run, so
// handlers are counted apart: a client cannot make us run more than
// MaxConcurrentStreams of them. A client that fills the queue too is a
// connection error ENHANCE_YOUR_CALM. Reader only.
func (c *conn) startHandler(st *Stream) error {
	c.mu.Lock()
	ok := c.startHandlerLocked(st)
	c.mu.Unlock()
	if !ok {
		return c.handlerQueueFull(st)
	}
	return nil
}

// startHandlerLocked is startHandler's part under mu; false when the
// queue is full, and the caller must call handlerQueueFull once mu is
// unlocked.
func (c *conn) startHandlerLocked(st *Stream) bool {
	if uint32(c.handlers) < c.cfg.maxConcurrentStreams {
		c.handlers++
		c.spawn(st)
		return true
	}
	if q := c.queuesLocked(); len(q.pending) < c.cfg.maxPendingHandlers {
		q.pending = append(q.pending, st)
		return true
	}
	return false
}

// handlerQueueFull fails st, which found the handler queue full; mu not
// held.
func (c *conn) handlerQueueFull(st *Stream) error {
	// The connection ends: the stream fails with it, with no response,
	// and the handler's reference goes unused (the table's is released
	// at teardown, and the hooks see the stream end like any other).
	ce := connError{ErrCodeEnhanceYourCalm, "handler_queue_full"}
	st.fail(&ConnectionError{Code: ce.Code, Reason: ce.Reason})
	st.release()
	return ce
}

// streamQueues holds the streams that wait for a handler goroutine: kept
// out of line, as a connection with few streams at a time never needs it.
type streamQueues struct {
	// pending streams wait for a handler slot: MaxConcurrentStreams
	// handlers run (startHandler).
	pending []*Stream
	// run[head:] have a slot and wait for a busy worker (spawn), first
	// come first run.
	run  []*Stream
	head int
}

// queuesLocked returns c.queues, making it; mu held.
func (c *conn) queuesLocked() *streamQueues {
	if c.queues == nil {
		c.queues = new(streamQueues)
	}
	return c.queues
}

// handlerDone releases a handler's slot to the next stream waiting for
// one, and returns the next stream for the worker to run, if any is in
// the run queue (handler.go).
func (c *conn) handlerDone() *Stream {
	var skipped []*Stream // reset while they waited: nothing to run
	c.mu.Lock()
	for {
		q := c.queues
		if q == nil || len(q.pending) == 0 {
			c.handlers--
			c.maybeCloseLocked()
			break
		}
		st := q.pending[0]
		q.pending[0] = nil
		q.pending = q.pending[1:]
		if !st.done() {
			c.spawn(st) // the slot passes on
			break
		}
		skipped = append(skipped, st)
	}
	next := c.nextQueuedLocked()
	c.mu.Unlock()
	// Outside mu: release may run Hooks.StreamEnded.
	for _, st := range skipped {
		st.finish()
		st.release()
	}
	return next
}

// throttle stops the reader while the writer has more than
// MaxQueuedControlFrames control frames to send, so the queue stays
// bounded. A writer that drains nothing for stuckWriterTimeout means a
// peer that floods us with frames needing answers (PING, SETTINGS) and
// reads none of them: a connection error ENHANCE_YOUR_CALM, closed at
// once. Reader only.
func (c *conn) throttle() error {
	if c.wq.controlQueued() <= c.cfg.maxQueuedControlFrames {
		return nil
	}
	c.runQueued(false)
	t := time.NewTimer(stuckWriterTimeout)
	defer t.Stop()
	space := c.wq.spaceChan()
	for c.wq.controlQueued() > c.cfg.maxQueuedControlFrames {
		select {
		case <-space:
			t.Reset(stuckWriterTimeout) // the peer reads, if slowly
		case <-t.C:
			return connError{ErrCodeEnhanceYourCalm, "control_queue_full"}
		}
	}
	return nil
}

// stuckWriterTimeout is how long the reader waits, throttled, for a
// writer that makes no progress.
const stuckWriterTimeout = 500 * time.Millisecond

func (c *conn) logStreamError(id uint32, code ErrCode, reason string) {
	c.countError(id, code, reason)
	if c.logOnce(reason) {
		c.logger().Info("h2server: stream error", "stream", id, "code", code, "reason", reason)
	}
}

// connFailed answers a connection error (section 5.4.1): GOAWAY with the
// code, then the connection closes. Safe from any goroutine.
func (c *conn) connFailed(ce connError) {
	c.mu.Lock()
	if c.life.failed {
		c.mu.Unlock()
		return
	}
	c.life.failed = true
	c.failing.Store(true)
	c.life.goingAway = true
	c.life.goAwayID = c.lastStreamID
	c.life.closeQueued = true
	c.mu.Unlock()
	c.countError(0, ce.Code, ce.Reason)
	c.logger().Info("h2server: connection error", "code", ce.Code, "reason", ce.Reason)
	c.wq.push(writeItem{kind: itemGoAway, id: c.life.goAwayID, code: ce.Code, debug: ce.Reason})
	c.wq.push(writeItem{kind: itemClose})
	c.cancel(&ConnectionError{Code: ce.Code, Reason: ce.Reason})
}

// countError is the one place every rejection passes through.
func (c *conn) countError(id uint32, code ErrCode, reason string) {
	if h := c.cfg.hooks.Rejected; h != nil {
		var info *ConnInfo
		if c.opened {
			info = &c.info
		}
		h(&Rejection{Conn: info, StreamID: id, Code: code, Reason: reason})
	}
}

// logOnce reports whether reason is new on this connection, so a peer
// that repeats a fault costs one log line.
func (c *conn) logOnce(reason string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rareLocked()
	if r.logged[reason] {
		return false
	}
	if r.logged == nil {
		r.logged = make(map[string]bool)
	}
	r.logged[reason] = true
	return true
}
