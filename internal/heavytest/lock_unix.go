//go:build unix

// Package heavytest lets the tests that load the machine take turns.
package heavytest

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Lock makes the tests that load the machine (the root package's attack
// suite, examples/tunnel's 100 full-size tunnels) take turns, across the
// test processes that `go test ./...` runs at once: on 2 cores, either
// one starves the other of the CPU its timing assertions assume. The
// lock is a file in the temporary directory, held until the test ends.
func Lock(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "h2server-heavy-tests.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Logf("heavy-test lock unavailable (%v): running anyway", err)
		return
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Logf("heavy-test lock unavailable (%v): running anyway", err)
		return
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}
