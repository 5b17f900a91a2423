package h2server

import (
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// deadlineConn counts the write deadlines set on it.
type deadlineConn struct {
	net.Conn
	set []time.Time
}

func (c *deadlineConn) SetWriteDeadline(t time.Time) error {
	c.set = append(c.set, t)
	return nil
}

func (c *deadlineConn) Write(p []byte) (int, error) { return len(p), nil }

// TestDeadlineWriterArm: the write deadline moves to WriteTimeout from now
// before a write, unless the one set last is less than a sixteenth of
// WriteTimeout old; so every write has at least 15/16 of it.
func TestDeadlineWriterArm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = 16 * time.Second
		nc := &deadlineConn{}
		dw := &deadlineWriter{nc: nc, d: d}
		write := func() {
			t.Helper()
			if _, err := dw.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			last := nc.set[len(nc.set)-1]
			if left := time.Until(last); left < d-d/16 || left > d {
				t.Fatalf("a write at %v has %v left of its deadline, want between 15/16 of %v and all of it", time.Now(), left, d)
			}
		}
		write()
		write()
		time.Sleep(d / 16)
		write()
		if len(nc.set) != 1 {
			t.Fatalf("%d deadlines set for three writes within a sixteenth of WriteTimeout (its end included), want 1", len(nc.set))
		}
		time.Sleep(time.Nanosecond)
		write()
		if len(nc.set) != 2 {
			t.Fatalf("%d deadlines set, want a second one just past a sixteenth of WriteTimeout after the first", len(nc.set))
		}
		time.Sleep(10 * d)
		write()
		if len(nc.set) != 3 {
			t.Fatalf("%d deadlines set, want a third one after a long pause", len(nc.set))
		}
	})
}
