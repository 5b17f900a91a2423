//go:build linux

package h2server

import (
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestParkRetriesEpollCreate: a failed epoll_create1 (a process out of
// descriptors, say) turns parking off only for a while. Connections that
// go idle meanwhile keep their reader goroutines and are served as
// usual, without a new attempt each (at most one per second); once that
// second has passed, the next idle connection creates the epoll instance
// and parks. Each failure streak is logged once. (Before, the first
// failure turned parking off for the server's life.)
func TestParkRetriesEpollCreate(t *testing.T) {
	events := watchParking(t)
	var (
		mu      sync.Mutex
		fail    = true
		creates = 0
		clock   = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	)
	srv := &Server{Handler: HandlerFunc(parkHandler)}
	srv.poller.create = func() (*epoll, error) {
		mu.Lock()
		defer mu.Unlock()
		creates++
		if fail {
			return nil, os.NewSyscallError("epoll_create1", syscall.EMFILE)
		}
		return newEpoll()
	}
	srv.poller.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return clock
	}
	creations := func() int {
		mu.Lock()
		defer mu.Unlock()
		return creates
	}
	ls := startServer(t, srv, false)
	countLogs := func(s string) int {
		return strings.Count(ls.logs.String(), s)
	}

	// The first idle connection finds epoll_create1 failing.
	c1 := dialParkable(t, ls.addr)
	waitEvent(t, events, "refused")
	// Within the second that follows, the next is refused without an
	// attempt.
	c2 := dialParkable(t, ls.addr)
	waitEvent(t, events, "refused")
	if n := creations(); n != 1 {
		t.Errorf("epoll_create1 called %d times within its back-off, want 1", n)
	}

	// The second passes and epoll_create1 works again.
	mu.Lock()
	clock = clock.Add(time.Second)
	fail = false
	mu.Unlock()
	c3 := dialParkable(t, ls.addr)
	waitParked(t, srv, events, 1)
	c3.getHello(1) // wakes it
	// The connections that could not park were served all along.
	c1.getHello(1)
	c2.getHello(1)
	if n := countLogs("cannot park"); n != 1 {
		t.Errorf("%d lines about parking failing, want 1 for the streak:\n%s", n, ls.logs)
	}
	if n := countLogs("parking idle connections again"); n != 1 {
		t.Errorf("%d lines about parking working again, want 1:\n%s", n, ls.logs)
	}

	// c1 and c2, refused in their first idle spell, park in the next
	// one; c3 parks again. Then all leave: with nothing parked, the
	// epoll instance closes, and the next idle connection creates one at
	// once. That fails: a new streak, logged anew. (How many instances
	// were created depends on how frames arrived: each wake-up that
	// leaves nothing parked closes the instance.)
	waitParked(t, srv, events, 3)
	c1.nc.Close()
	c2.nc.Close()
	c3.nc.Close()
	waitParked(t, srv, events, 0)
	mu.Lock()
	fail = true
	mu.Unlock()
	before := creations()
	dialParkable(t, ls.addr)
	waitEvent(t, events, "refused")
	if n := creations() - before; n != 1 {
		t.Errorf("epoll_create1 called %d times for the connection after a success, want 1", n)
	}
	if n := countLogs("cannot park"); n != 2 {
		t.Errorf("%d lines about parking failing, want 2 for two streaks:\n%s", n, ls.logs)
	}
}
