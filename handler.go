package h2server

import (
	"errors"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// Handler goroutines: started per stream, reused for the connection's next streams.

// A handler goroutine (a worker) that finishes waits for the
// connection's next stream. Reusing it saves starting a goroutine and,
// above all, growing a new goroutine's stack for every request: with 100
// streams in flight per connection, keeping only 16 made 84 new
// goroutines per round, and growing their stacks took 30% of the CPU.
// A connection keeps every worker its streams needed (never more than
// MaxConcurrentStreams run at once) until it has no stream for
// workerLinger.
//
// A stream that finds no idle worker while as many workers are busy as
// there are Ps (GOMAXPROCS) waits in the run queue for a busy worker to
// take it when its handler returns: requests that arrive together and
// end quickly run one after another on warm goroutines, never more of
// them runnable than there are cores to run them, instead of each
// waking or starting a goroutine of its own. No stream's progress
// hangs on another's handler: before the reader reads from the socket
// again, or waits for anything, every stream still queued gets a
// goroutine of its own (runQueued), so a handler that blocks, even on
// bytes the client has yet to send, holds up the streams queued behind
// it no longer than the reader takes to finish the bytes it has. (GET
// /hello -c100 -m10 on one core: about a fifth less CPU per request.)

// workerLinger is how long a connection keeps idle workers once no
// stream comes: a connection between bursts keeps no handler goroutines.
const workerLinger = 100 * time.Millisecond

// workQueueLen is the capacity of workers.work: streams handed to idle
// workers that have not yet reached their receive. Idle workers waiting
// in it take streams directly; a full queue makes spawn start a goroutine.
const workQueueLen = 4

// workers hands a connection's streams to its idle handler goroutines.
//
// An idle worker counts itself in idle and then waits on work. Whoever
// takes one from idle (reserve) owes that count one item on work: a
// stream to run (spawn), or nil to exit (the sweep, teardown). So a
// worker that counted itself in always gets exactly one item, and
// nothing waits for a worker that will never come.
//
// Idle workers have no timer each (arming one per request cost about 5%
// of a small request's CPU): one sweep per connection (sweepIdle), while
// any worker is idle, retires them all once workerLinger passed with no
// stream handed out. The same sweep retires an idle writer goroutine.
type workers struct {
	work  chan *Stream  // made by the first spawn, under conn.mu
	idle  atomic.Int32  // idle workers not reserved yet
	flags atomic.Uint32 // the sweep's: workUsed, writerUsed, writerRetire, sweepArmed

	// busy counts the workers handed a stream and not idle again; the
	// run queue (streamQueues.run) holds streams for them. queued says
	// it is not empty, for the reader's look without conn.mu.
	busy   int32 // guarded by conn.mu
	queued atomic.Bool
	// maxBusy is GOMAXPROCS when the connection started (read under
	// conn.mu): up to that many workers run at once before streams
	// queue, so handlers of one connection still use every core.
	maxBusy int32
}

const (
	workUsed     = 1 << iota // a stream was handed to an idle worker since the last sweep
	writerUsed               // the writer woke for work since the last sweep
	writerRetire             // the sweep asks the writer goroutine to exit when idle
	sweepArmed               // the sweep timer is set (or the connection ended)
)

// reserve takes one idle worker, if any.
func (p *workers) reserve() bool {
	for {
		n := p.idle.Load()
		if n <= 0 {
			return false
		}
		if p.idle.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// retireAll tells every idle worker to exit. It may wait for reserved
// workers to reach their receive, so the caller holds no lock.
func (p *workers) retireAll() { p.retireBeyond(0) }

// retireBeyond tells idle workers to exit until keep are left; as
// retireAll, the caller holds no lock.
func (p *workers) retireBeyond(keep int32) {
	for p.idle.Load() > keep && p.reserve() {
		p.work <- nil
	}
}

// worker runs st's handler, then the handlers of later streams handed to
// it by spawn, until the connection ends or the sweep retires it.
func (c *conn) worker(st *Stream) {
	// The loop keeps its frame small: a handler blocked in Read sits on
	// top of it, and a goroutine whose stack fits in its first 2 KiB never
	// grows.
	for st != nil {
		if st = c.runHandler(st); st == nil {
			st = c.nextWork()
		}
	}
}

// nextWork waits for the connection's next stream as an idle worker; nil
// when the connection ends or the sweep retires idle workers.
func (c *conn) nextWork() *Stream {
	p := &c.workers
	p.idle.Add(1)
	if p.flags.Load()&sweepArmed == 0 {
		c.armSweep()
	}
	// teardown sets ended and then retires the idle workers: a worker
	// counted in after that finds ended set and takes its count back,
	// unless someone reserved it already (and so owes it an item).
	if c.ended.Load() && p.reserve() {
		return nil
	}
	return <-p.work
}

// spawn queues st for a busy worker while maxBusy of them are busy, or
// runs its handler on an idle worker, or starts a worker; c.mu held.
//
// It queues even when workers are idle: with maxBusy busy, another would
// only take turns with them, and wake on a cold stack. (It used to hand
// the stream to an idle worker: a connection of h2load -c10 -m100 came
// to keep 100 of them, from the rounds whose queued streams the reader
// started on goroutines of their own, and then woke each for one stream,
// every round, bypassing the queue.)
func (c *conn) spawn(st *Stream) {
	p := &c.workers
	if p.busy >= p.maxBusy && !c.life.closed {
		q := c.queuesLocked()
		q.run = append(q.run, st)
		p.queued.Store(true)
		return
	}
	c.startWorker(st)
}

// startWorker runs st's handler on an idle worker, or a new one; c.mu
// held.
func (c *conn) startWorker(st *Stream) {
	p := &c.workers
	p.busy++
	if p.work == nil {
		p.work = make(chan *Stream, workQueueLen)
	}
	if p.reserve() {
		if p.flags.Load()&workUsed == 0 {
			p.flags.Or(workUsed)
		}
		select {
		case p.work <- st:
			return
		default:
			// Full (reserved workers still on their way): the
			// reservation goes back, and st gets its own goroutine
			// rather than wait under mu.
			p.idle.Add(1)
		}
	}
	go c.worker(st)
}

// nextQueuedLocked takes the run queue's first stream for a worker whose
// handler returned, or counts the worker out of busy; c.mu held.
func (c *conn) nextQueuedLocked() *Stream {
	q := c.queues
	if q == nil || q.head == len(q.run) {
		c.workers.busy--
		return nil
	}
	st := q.run[q.head]
	q.run[q.head] = nil
	if q.head++; q.head == len(q.run) {
		q.run, q.head = q.run[:0], 0
		c.workers.queued.Store(false)
	}
	return st
}

// runQueued starts a worker for every stream still in the run queue,
// after letting the busy workers take what they can. The reader calls it
// before it waits for the socket (connReader.fill and readSocket say
// when) and before it waits for the writer, and teardown calls it: a
// stream never waits there on a handler that waits for the reader.
func (c *conn) runQueued(yield bool) {
	p := &c.workers
	if !p.queued.Load() {
		return
	}
	if yield {
		runtime.Gosched()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.queues
	for _, st := range q.run[q.head:] {
		c.startWorker(st)
	}
	clear(q.run)
	q.run, q.head = q.run[:0], 0
	p.queued.Store(false)
}

// armSweep sets the sweep timer unless it is set or the connection ended.
// It takes c.mu.
func (c *conn) armSweep() {
	p := &c.workers
	if p.flags.Or(sweepArmed)&sweepArmed != 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.life.closed {
		return // armed stays set: teardown retires the workers
	}
	if c.life.sweep == nil {
		c.life.sweep = time.AfterFunc(workerLinger, c.sweepIdle)
	} else {
		c.life.sweep.Reset(workerLinger)
	}
}

// sweepIdle runs workerLinger after armSweep. It retires the idle
// workers if no stream was handed to one meanwhile, asks an idle writer
// goroutine to exit if it had nothing to write meanwhile, and looks again
// later while either lingers.
func (c *conn) sweepIdle() {
	p := &c.workers
	c.mu.Lock()
	if c.life.closed {
		c.mu.Unlock()
		return
	}
	f := p.flags.And(^uint32(workUsed | writerUsed))
	writer := c.wq.isRunning()
	if f&writerUsed == 0 && writer {
		p.flags.Or(writerRetire)
		c.wq.wakeWriter()
	}
	if f&workUsed != 0 || writer {
		// Workers in use, or a writer to see go: look again later.
		c.life.sweep.Reset(workerLinger)
		keep := p.maxBusy
		c.mu.Unlock()
		if f&workUsed == 0 {
			p.retireAll()
		} else {
			// In use, but never more than maxBusy at once from idle:
			// streams past that queue (spawn). The rest came for
			// streams the reader started on goroutines of their own
			// (runQueued), and go.
			p.retireBeyond(keep)
		}
		return
	}
	p.flags.And(^uint32(sweepArmed))
	c.life.sweep = nil // nothing lingers: an idle connection keeps no timer for it
	c.dropKeepaliveLocked()
	if q := c.queues; q != nil && len(q.run) == 0 && len(q.pending) == 0 {
		c.queues = nil // nor their arrays
	}
	c.mu.Unlock()
	p.retireAll()
	// A worker that went idle after retireAll counted itself and saw
	// armed still set, as may a writer that started: arm for them (each
	// sees the other's write: the flag cleared, or its count or start).
	if p.idle.Load() > 0 || c.wq.isRunning() {
		c.armSweep()
	}
}

// runHandler runs st's handler, and returns the run queue's next stream
// for the same worker, if any.
func (c *conn) runHandler(st *Stream) (next *Stream) {
	parked := false
	defer func() {
		if r := recover(); r != nil {
			if r != errAbortStream {
				c.logger().Error("h2server: handler panic; resetting its stream",
					"stream", st.id, "panic", r, "stack", string(debug.Stack()))
			}
			st.dropNext()
			st.Reset(ErrCodeInternal)
		}
		if parked {
			// The stream waits with no goroutine (WhenReadable), and may
			// be running on another worker already: hands off.
			next = c.handlerParked()
			return
		}
		// Free the handler's slot before its END_STREAM can reach the
		// client: a client that opens its next stream the moment this one
		// ends must find the slot free.
		next = c.handlerDone()
		st.finish()
		st.release()
	}()
	if st.reject != 0 {
		st.WriteHeaders(int(st.reject), nil)
		return nil
	}
	f := st.takeNext() // a stream resumed after WhenReadable
	for {
		if f == nil {
			c.cfg.handler.ServeStream(st)
		} else {
			f(st)
		}
		if f, parked = st.afterHandler(); f == nil {
			return nil
		}
	}
}

// errAbortStream, panicked by a handler, resets its stream without a log line.
var errAbortStream = errors.New("h2server: abort stream")
