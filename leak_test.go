package h2server

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Goroutine-leak checks. A goroutine "belongs to this package" when a frame
// of its stack, or the frame that created it, is in package h2server: the
// server's readers, writers and handlers, and any helper goroutine a test
// started. Goroutines of the testing framework, of net/http's and x/net's
// client pools and of the runtime never match, so closing idle client
// connections is hygiene, not something the check depends on.
//
// Goroutine exit is not an event a test can wait for, so this is the one
// place where polling is acceptable: the checks look again every few
// milliseconds until the goroutines are gone or leakWait passes.

// leakWait bounds how long a check waits for goroutines to exit. It is
// above the server's one-second linger (a closing connection may wait that
// long for its peer to hang up) with room for -race.
const leakWait = 5 * time.Second

// TestMain runs the package's tests and then fails the run if any
// goroutine of the package is still alive.
func TestMain(m *testing.M) {
	code := m.Run()
	if leaked := waitGoroutines(nil, leakWait); len(leaked) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d goroutine(s) of package h2server still alive after all tests:\n\n%s\n",
			len(leaked), strings.Join(leaked, "\n\n"))
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// checkNoLeaks snapshots the goroutines alive now and returns a function
// that fails t if goroutines of this package started since are still
// alive (after waiting for them to exit). Use it as
//
//	defer checkNoLeaks(t)()
//
// in a test that stops its servers itself, or register it with t.Cleanup
// before the cleanups that stop servers (cleanups run last-in first-out):
//
//	t.Cleanup(checkNoLeaks(t))
//
// It assumes the test does not run in parallel with other tests of this
// package, whose goroutines it could not tell apart from the test's own.
func checkNoLeaks(t testing.TB) func() {
	t.Helper()
	before := make(map[uint64]bool)
	for _, g := range goroutineStacks() {
		before[g.id] = true
	}
	return func() {
		t.Helper()
		if leaked := waitGoroutines(before, leakWait); len(leaked) > 0 {
			t.Errorf("%d goroutine(s) of package h2server leaked:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
	}
}

// waitGoroutines waits up to d for the package's goroutines that are not
// in ignore (by ID) to exit, and returns the stacks of those that remain.
func waitGoroutines(ignore map[uint64]bool, d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		leaked := packageGoroutines(ignore)
		if len(leaked) == 0 || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// packageGoroutines returns the stacks of the live goroutines, other than
// the caller's and those in ignore, that run or were created by code of
// this package.
func packageGoroutines(ignore map[uint64]bool) []string {
	var leaked []string
	for i, g := range goroutineStacks() {
		if i == 0 || ignore[g.id] {
			continue // runtime.Stack lists the calling goroutine first
		}
		if strings.Contains(g.stack, "h2server.") {
			leaked = append(leaked, g.stack)
		}
	}
	return leaked
}

type goroutineStack struct {
	id    uint64
	stack string
}

// goroutineStacks returns every goroutine's stack, the caller's first.
func goroutineStacks() []goroutineStack {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var gs []goroutineStack
	for _, s := range bytes.Split(buf, []byte("\n\n")) {
		// Each stack starts with "goroutine 123 [state]:".
		rest, ok := bytes.CutPrefix(s, []byte("goroutine "))
		if !ok {
			continue
		}
		idText, _, _ := bytes.Cut(rest, []byte(" "))
		id, err := strconv.ParseUint(string(idText), 10, 64)
		if err != nil {
			continue
		}
		gs = append(gs, goroutineStack{id: id, stack: string(s)})
	}
	return gs
}

func TestLeakCheckerSeesGoroutines(t *testing.T) {
	// The checker must see a goroutine of this package while it runs, and
	// stop seeing it once it has exited.
	before := make(map[uint64]bool)
	for _, g := range goroutineStacks() {
		before[g.id] = true
	}
	stop := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		<-stop
	}()
	if leaked := packageGoroutines(before); len(leaked) != 1 {
		t.Fatalf("found %d new goroutines of the package, want 1:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
	close(stop)
	<-exited
	if leaked := waitGoroutines(before, leakWait); len(leaked) != 0 {
		t.Fatalf("goroutine still reported after it exited:\n%s", strings.Join(leaked, "\n\n"))
	}
}
