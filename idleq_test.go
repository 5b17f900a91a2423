package h2server

import (
	"testing"
	"testing/synctest"
	"time"
)

// sibling starts another connection to tst's Server, driven the same way.
func (tst *serverTester) sibling() *serverTester {
	s := &serverTester{
		t: tst.t, srv: tst.srv, calls: tst.calls, called: make(map[uint32]*handlerCall),
		quit: tst.quit, served: make(chan error, 1), logs: tst.logs,
	}
	s.connect()
	tst.t.Cleanup(func() {
		s.cc.Close()
		synctest.Wait()
	})
	return s
}

// idleQueued returns how many connections wait in srv's idle queue, and
// whether its timer is set.
func idleQueued(srv *Server) (n int, armed bool) {
	srv.idle.mu.Lock()
	defer srv.idle.mu.Unlock()
	return len(srv.idle.h), srv.idle.at != 0
}

// TestIdleQueue: connections of one Server that go idle at different
// times each get their GOAWAY exactly IdleTimeout after their last stream
// ended, in that order, from the Server's one idle timer; a connection
// busy again when its turn comes is due later; one that closes leaves
// the queue; and with no connection left, the timer is stopped.
func TestIdleQueue(t *testing.T) {
	run(t, func(t *testing.T) {
		const idle = 10 * time.Second
		a := newServerTester(t, HandlerFunc(func(st *Stream) { st.WriteHeaders(204, nil) }),
			func(s *Server) { s.IdleTimeout = idle })
		b, c, d := a.sibling(), a.sibling(), a.sibling()
		for _, tst := range []*serverTester{a, b, c, d} {
			tst.greet()
		}
		if n, armed := idleQueued(a.srv); n != 4 || !armed {
			t.Fatalf("%d connections queued, timer set: %v; want 4, true", n, armed)
		}
		time.Sleep(3 * time.Second)
		a.get(1, "/") // idle again from 3s: due at 13s
		a.wantHeaders(1, true)
		time.Sleep(2 * time.Second)
		c.cc.Close() // at 5s: leaves the queue
		synctest.Wait()
		d.get(1, "/") // at 5s: idle again from 5s, due at 15s
		d.wantHeaders(1, true)
		time.Sleep(idle - 5*time.Second - time.Millisecond)
		for _, tst := range []*serverTester{a, b, d} {
			tst.wantIdle()
		}
		time.Sleep(time.Millisecond) // 10s: b's turn
		b.wantGoAway(ErrCodeNo)
		b.wantClosed()
		a.wantIdle()
		d.wantIdle()
		time.Sleep(3*time.Second - time.Millisecond)
		a.wantIdle()
		time.Sleep(time.Millisecond) // 13s: a's
		a.wantGoAway(ErrCodeNo)
		a.wantClosed()
		d.wantIdle()
		time.Sleep(2 * time.Second) // 15s: d's
		d.wantGoAway(ErrCodeNo)
		d.wantClosed()
		if n, armed := idleQueued(a.srv); n != 0 || armed {
			t.Fatalf("after every connection ended: %d queued, timer set: %v; want 0, false", n, armed)
		}
	})
}

// TestIdleQueueHeap: the heap keeps its order and indexes through adds
// and removals in any order.
func TestIdleQueueHeap(t *testing.T) {
	var q idleQueue
	conns := make([]*conn, 64)
	for i := range conns {
		conns[i] = new(conn)
	}
	check := func(step string) {
		t.Helper()
		for i, c := range q.h {
			if int(c.idleIdx) != i+1 {
				t.Fatalf("%s: heap[%d] has index %d", step, i, c.idleIdx)
			}
			if p := (i - 1) / 2; i > 0 && q.h[p].idleKey > c.idleKey {
				t.Fatalf("%s: heap[%d] due %v before its parent heap[%d] %v", step, i, c.idleKey, p, q.h[p].idleKey)
			}
		}
	}
	synctest.Test(t, func(t *testing.T) {
		for i, c := range conns {
			q.add(c, time.Duration((i*37)%64+1)*time.Hour)
			check("add")
		}
		q.add(conns[0], time.Minute) // queued already: stays at its key
		if conns[0].idleKey != time.Hour {
			t.Fatalf("a queued connection's key moved to %v", conns[0].idleKey)
		}
		for i := 0; i < len(conns); i += 3 {
			q.remove(conns[i])
			check("remove")
		}
		prev := time.Duration(0)
		for len(q.h) > 0 {
			c := q.h[0]
			if c.idleKey < prev {
				t.Fatalf("popped %v after %v", c.idleKey, prev)
			}
			prev = c.idleKey
			q.remove(c)
			check("pop")
		}
		if q.at != 0 {
			t.Fatalf("the timer is set with the queue empty")
		}
	})
}
