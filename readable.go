package h2server

// Waiting for a request body without a goroutine (Stream.WhenReadable).
//
// A handler blocked in Read holds its goroutine: 2 KiB of stack and the
// runtime's records, more than the Stream itself. A server holding many
// streams whose clients send slowly or rarely (long polls, uploads that
// trickle, streams of events from the client) pays that for each. With
// WhenReadable the handler returns instead, and the stream waits as data
// alone: the Stream, its handler slot, and one function. Whatever would
// wake a blocked Read (body bytes, END_STREAM, a reset by either side,
// the connection's end, the read deadline) hands the stream to a handler
// goroutine again, which calls the function.
//
// One owner at a time: the running handler, or the waiting record. The
// handler's return arms the record (afterHandler), and the first wake-up
// after that disarms it and resumes the stream (wakeRecvLocked, resume);
// both under recv.mu, so the stream is resumed exactly once per wait.

// awaitState is a stream's part in WhenReadable, guarded by recv.mu but
// where noted.
type awaitState uint8

const (
	awaitNone    awaitState = iota // no continuation
	awaitSet                       // WhenReadable was called; the handler still runs
	awaitArmed                     // the handler returned: the next wake-up resumes the stream
	awaitResumed                   // handed to a worker, which runs the continuation
)

// WhenReadable arranges for next to run, on a handler goroutine, once a
// Read of the stream would not block: body bytes arrived, the body ended,
// the stream was reset or its connection lost, or the read deadline
// passed. It lets a handler wait for the request body without holding a
// goroutine: the handler calls WhenReadable and returns at once; the
// stream stays open, with its response and context as they were, and
// next then serves it as the handler would (it may read, write, and call
// WhenReadable again to wait for more). The first Read in next does not
// block: it returns body bytes, or an error (io.EOF at the body's end).
// So a handler that reads once per call and waits again until Read
// fails never holds a goroutine while the client is slow:
//
//	func (h *upload) step(st *h2server.Stream) {
//		n, err := st.Read(h.buf)
//		h.consume(h.buf[:n])
//		switch {
//		case err == nil:
//			st.WhenReadable(h.step)
//		case err == io.EOF:
//			st.WriteHeaders(http.StatusNoContent, nil)
//		}
//	}
//
// The handler (or next) must return promptly after calling it, and must
// not use the stream after returning: from then until next runs, the
// stream belongs to no goroutine. If what is waited for is there already
// when the handler returns, next runs at once on the same goroutine. The
// stream's context, and the slot the stream counts against
// MaxConcurrentStreams, last until a handler returns without calling
// WhenReadable. A later call replaces an earlier one; a handler that
// panics after calling it drops it.
func (st *Stream) WhenReadable(next func(*Stream)) {
	if next == nil {
		panic("h2server: WhenReadable(nil)")
	}
	st.send.mu.Lock()
	x := st.extrasLocked()
	st.recv.mu.Lock()
	x.next = next
	st.recv.await = awaitSet
	st.recv.mu.Unlock()
	st.send.mu.Unlock()
}

// readableLocked reports whether a Read would not block; recv.mu held.
func (st *Stream) readableLocked() bool {
	if st.recv.got > 0 || st.recv.buf.Len() > 0 || st.recv.err != nil {
		return true
	}
	dl := st.deadlinesLocked()
	return dl != nil && dl.r.expired()
}

// wakeRecvLocked wakes a Read waiting for the body. It reports true if
// the stream waited with no goroutine and is now the caller's to resume
// (c.resume) once it holds no lock: every place that wakes the receive
// side calls it. recv.mu held.
func (st *Stream) wakeRecvLocked() bool {
	wake(st.recv.wake)
	if st.recv.await != awaitArmed {
		return false
	}
	st.recv.await = awaitResumed
	return true
}

// afterHandler runs on the handler goroutine when a handler (or a
// continuation) returned. It returns the continuation to run at once
// when the handler called WhenReadable and a Read would not block; or
// parked true when the stream waits with no goroutine, and the caller
// must not touch it again; or neither, and the stream is done.
func (st *Stream) afterHandler() (next func(*Stream), parked bool) {
	// Unlocked: only a running handler sets awaitSet, and nothing else
	// writes await until afterHandler arms it.
	if st.recv.await == awaitNone {
		return nil, false
	}
	st.recv.mu.Lock()
	defer st.recv.mu.Unlock()
	if st.readableLocked() {
		return st.takeNextLocked(), false
	}
	st.recv.await = awaitArmed
	return nil, true
}

// takeNext returns the continuation of a resumed stream, nil for a
// stream whose handler has not run. Called by the worker that took st.
func (st *Stream) takeNext() func(*Stream) {
	// Unlocked: awaitResumed was stored before the stream was handed to
	// this worker, and nothing writes await again until it runs.
	if st.recv.await != awaitResumed {
		return nil
	}
	st.recv.mu.Lock()
	defer st.recv.mu.Unlock()
	return st.takeNextLocked()
}

// takeNextLocked clears the wait and returns its continuation; recv.mu held.
func (st *Stream) takeNextLocked() func(*Stream) {
	st.recv.await = awaitNone
	next := st.extras.next
	st.extras.next = nil
	return next
}

// dropNext forgets a continuation set by a handler that then panicked.
func (st *Stream) dropNext() {
	st.recv.mu.Lock()
	if st.recv.await != awaitNone {
		st.recv.await = awaitNone
		st.extras.next = nil
	}
	st.recv.mu.Unlock()
}

// resume hands a stream that waited with no goroutine to a worker; no
// lock held. It bypasses the run queue: a wake-up from a timer or the
// writer must not wait there behind handlers blocked on the reader.
func (c *conn) resume(st *Stream) {
	c.mu.Lock()
	c.startWorker(st)
	c.mu.Unlock()
}

// handlerParked frees the worker of a stream that now waits with no
// goroutine, keeping the stream's handler slot, and returns the run
// queue's next stream for the worker, if any.
func (c *conn) handlerParked() *Stream {
	c.mu.Lock()
	next := c.nextQueuedLocked()
	c.mu.Unlock()
	return next
}
