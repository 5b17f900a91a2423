package h2server

import (
	"errors"
	"runtime/debug"
	"time"
)

// Handler goroutines: started per stream, reused for the connection's next streams.

// maxIdleWorkers is how many handler goroutines a connection keeps
// waiting for its next stream. Reusing them saves starting a goroutine
// and, above all, growing a new goroutine's stack for every request.
const maxIdleWorkers = 16

// workerLinger is how long an idle worker waits for the connection's next
// stream before it exits, as the writer does: a connection between bursts
// keeps no handler goroutines.
const workerLinger = 100 * time.Millisecond

// worker runs st's handler, then the handlers of later streams handed to
// it by startHandler, until the connection ends, enough others idle, or
// no stream comes for workerLinger.
func (c *conn) worker(st *Stream) {
	// The loop keeps its frame small: a handler blocked in Read sits on
	// top of it, and a goroutine whose stack fits in its first 2 KiB never
	// grows (measured: a stream waiting for its body then costs 2 KiB of
	// stack instead of 4).
	var idle *time.Timer
	for st != nil {
		c.runHandler(st)
		st = c.nextWork(&idle)
	}
	stopTimer(idle)
}

// nextWork waits for the connection's next stream as an idle worker; nil
// when the connection ends, enough workers already idle, or none comes
// for workerLinger. *idle is the worker's own timer, made once.
func (c *conn) nextWork(idle **time.Timer) *Stream {
	if c.idleWorkers.Add(1) > maxIdleWorkers {
		c.idleWorkers.Add(-1)
		return nil
	}
	if *idle == nil {
		*idle = time.NewTimer(workerLinger)
	} else {
		(*idle).Reset(workerLinger)
	}
	select {
	case st := <-c.work:
		return st
	case <-(*idle).C:
	case <-c.done:
	}
	// c.work is unbuffered: no stream was handed to us (spawn counts
	// the idle worker it hands one to out itself).
	c.idleWorkers.Add(-1)
	return nil
}

// spawn runs st's handler on an idle worker, or a new one.
func (c *conn) spawn(st *Stream) {
	select {
	case c.work <- st:
		c.idleWorkers.Add(-1)
	default:
		go c.worker(st)
	}
}

func (c *conn) runHandler(st *Stream) {
	defer func() {
		if r := recover(); r != nil {
			if r != errAbortStream {
				c.logger().Error("h2server: handler panic; resetting its stream",
					"stream", st.id, "panic", r, "stack", string(debug.Stack()))
			}
			st.Reset(ErrCodeInternal)
		}
		// Free the handler's slot before its END_STREAM can reach the
		// client: a client that opens its next stream the moment this one
		// ends must find the slot free.
		c.handlerDone()
		st.finish()
		st.release()
	}()
	if st.reject != 0 {
		st.WriteHeaders(int(st.reject), nil)
		return
	}
	c.cfg.handler.ServeStream(st)
}

// errAbortStream, panicked by a handler, resets its stream without a log line.
var errAbortStream = errors.New("h2server: abort stream")
