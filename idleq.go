package h2server

import (
	"sync"
	"time"
)

// idleQueue holds a Server's connections that wait for IdleTimeout to
// pass, in a min-heap by due time, with one timer for them all. A timer
// per connection cost every idle connection 128 bytes (the timer and its
// callback), more than any other part of its state but the conn and the
// writer; the queue costs it 12 bytes in the conn.
//
// Lock order: conn.mu, then idleQueue.mu. The fields of a conn it keeps
// (idleIdx, idleKey) are guarded by idleQueue.mu. As with the timer it
// replaces, a connection stays queued when a stream opens: when its turn
// comes, onIdle looks at life.idleAt and queues it again if it is due
// later, so a connection that goes idle between rounds of requests costs
// the queue nothing.
type idleQueue struct {
	mu    sync.Mutex
	h     []*conn       // the heap: h[0] is due first
	timer *time.Timer   // made on first use; fires at or before h[0]'s due time
	at    time.Duration // when timer fires, since processStart; 0: stopped or fired
	due   []*conn       // fire's scratch
}

// add queues c, due at key (a time since processStart), unless it is
// queued already (at an earlier key, by construction: see idleQueue).
// c.mu held.
func (q *idleQueue) add(c *conn, key time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if c.idleIdx != 0 {
		return
	}
	c.idleKey = key
	q.h = append(q.h, c)
	c.idleIdx = int32(len(q.h))
	q.up(len(q.h) - 1)
	if q.at == 0 || key < q.at {
		q.armLocked(key)
	}
}

// remove takes c out of the queue, if it is in; c.mu held (teardown).
func (q *idleQueue) remove(c *conn) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if c.idleIdx == 0 {
		return
	}
	q.removeAt(int(c.idleIdx) - 1)
	if len(q.h) == 0 && q.timer != nil {
		q.timer.Stop() // nothing left: no timer outlives the connections
		q.at = 0
	}
	// Otherwise the timer may fire early for a removed head, and sets
	// itself again for the next.
}

// armLocked sets the timer to fire at key; mu held.
func (q *idleQueue) armLocked(key time.Duration) {
	q.at = key
	d := max(key-time.Since(processStart), 0)
	if q.timer == nil {
		q.timer = time.AfterFunc(d, q.fire)
	} else {
		q.timer.Reset(d)
	}
}

// fire runs when the timer passes: it takes every connection now due out
// of the queue and lets each see whether it is still idle (onIdle), and
// sets the timer for the next.
func (q *idleQueue) fire() {
	now := time.Since(processStart)
	q.mu.Lock()
	q.at = 0
	due := q.due[:0]
	for len(q.h) > 0 && q.h[0].idleKey <= now {
		due = append(due, q.h[0])
		q.removeAt(0)
	}
	q.due = nil // fire may run again while this one runs: the scratch is this run's
	if len(q.h) > 0 {
		q.armLocked(q.h[0].idleKey)
	}
	q.mu.Unlock()
	for i, c := range due {
		c.onIdle()
		due[i] = nil
	}
	q.mu.Lock()
	if q.due == nil && cap(due) <= 64 {
		q.due = due[:0]
	}
	q.mu.Unlock()
}

// removeAt takes the connection at heap index i out; mu held.
func (q *idleQueue) removeAt(i int) {
	c := q.h[i]
	last := len(q.h) - 1
	if i != last {
		q.swap(i, last)
	}
	q.h[last] = nil
	q.h = q.h[:last]
	c.idleIdx = 0
	if i < last {
		q.down(i)
		q.up(i)
	}
}

func (q *idleQueue) swap(i, j int) {
	q.h[i], q.h[j] = q.h[j], q.h[i]
	q.h[i].idleIdx, q.h[j].idleIdx = int32(i+1), int32(j+1)
}

func (q *idleQueue) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if q.h[p].idleKey <= q.h[i].idleKey {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q *idleQueue) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(q.h) {
			return
		}
		m := l
		if r := l + 1; r < len(q.h) && q.h[r].idleKey < q.h[l].idleKey {
			m = r
		}
		if q.h[i].idleKey <= q.h[m].idleKey {
			return
		}
		q.swap(i, m)
		i = m
	}
}
