// Package headless runs Debian's Chromium without a display for the
// examples' browser tests (examples/browser, examples/websocket).
package headless

import (
	"github.com/h2server/h2server/examples/internal/syncbuf"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// Chromium returns the path of Debian's Chromium. When it is missing the
// test is skipped, or fails when CI=true (.ci/run installs it).
func Chromium(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found (%v); CI installs it with apt-get install chromium", err)
		}
		t.Skipf("chromium not found (%v); apt-get install chromium to run this test", err)
	}
	return path
}

// Browser is a headless Chromium showing one page.
type Browser struct {
	// Exited is closed when the browser has exited; Err then says how.
	Exited <-chan struct{}
	err    error // set before Exited is closed
	out    syncbuf.Buffer
}

// Err returns how the browser exited, once Exited is closed.
func (b *Browser) Err() error { return b.err }

// Start opens url in the Chromium at bin, with a fresh profile in a
// temporary directory, certificate errors ignored (the examples'
// certificates are self-signed) and QUIC off (the tests are about HTTP/2).
// The browser and its helper processes are killed when the test ends.
func Start(t testing.TB, bin, url string) *Browser {
	t.Helper()
	b := &Browser{}
	home := t.TempDir()
	cmd := exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--ignore-certificate-errors",
		"--user-data-dir="+home+"/profile", url)
	// Everything Chromium writes outside its profile (NSS database, crash
	// reports, shared memory files it cannot remove when killed) goes to
	// the temporary directory too.
	cmd.Env = append(os.Environ(), "HOME="+home, "TMPDIR="+home,
		"XDG_CONFIG_HOME="+home+"/.config", "XDG_CACHE_HOME="+home+"/.cache", "XDG_DATA_HOME="+home+"/.local/share")
	cmd.Stdout, cmd.Stderr = &b.out, &b.out
	// Its own process group, so that the browser's helpers go with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second // a helper holding the output pipe
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		b.err = cmd.Wait()
		close(exited)
	}()
	b.Exited = exited
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	return b
}

// Log returns the end of what the browser printed: in a container its
// output is mostly D-Bus noise, and the end is what matters.
func (b *Browser) Log() string {
	s := b.out.String()
	return s[max(0, len(s)-4000):]
}
