package h2server

import (
	"testing"
	"testing/synctest"

	"golang.org/x/net/http2"
)

func TestSendQuota(t *testing.T) {
	for _, c := range []struct {
		open int32
		want int
	}{
		{0, sendBufferSize}, {1, sendBufferSize}, {2, sendBufferSize},
		{3, 32 << 10}, {4, 32 << 10}, {5, 32 << 10}, {100, 32 << 10},
	} {
		if got := sendQuota(c.open); got != c.want {
			t.Errorf("sendQuota(%d) = %d, want %d", c.open, got, c.want)
		}
	}
}

// TestSendQuotaShared: streams whose windows let them run ahead buffer
// their whole quota, and no more: 128 KiB each with two streams open,
// a quarter of it each with four (sharedQuota). The connection window is spent first,
// so the writer sends nothing more while the handlers fill their buffers;
// once the client opens it, every body arrives whole.
func TestSendQuotaShared(t *testing.T) {
	for _, n := range []int{2, 4} {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, nil)
			tst.greet(http2.Setting{ID: http2.SettingInitialWindowSize, Val: bigWindow})
			const body = 3 * sendBufferSize
			var calls []*handlerCall
			var writes []chan writeResult
			for i := range n {
				id := uint32(2*i + 1)
				tst.get(id, "/")
				calls = append(calls, tst.call(id))
			}
			for _, c := range calls {
				writes = append(writes, goWrite(c.st, body))
			}
			synctest.Wait()
			sent := 0
			for _, f := range tst.drainFrames() {
				if f.typ == http2.FrameData {
					sent += f.dataLen
				}
			}
			if sent != 65535 {
				t.Fatalf("%d streams: %d bytes of DATA sent, want the connection window, 65535", n, sent)
			}
			quota := sendQuota(int32(n))
			for _, c := range calls {
				c.st.send.mu.Lock()
				held := c.st.send.buf.Len()
				c.st.send.mu.Unlock()
				if held != quota {
					t.Errorf("%d streams: stream %d holds %d bytes, want its quota, %d", n, c.st.id, held, quota)
				}
			}

			tst.fr.WriteWindowUpdate(0, uint32(n*body))
			for _, w := range writes {
				if r := <-w; r.err != nil || r.n != body {
					t.Fatalf("%d streams: Write returned %d, %v; want %d, nil", n, r.n, r.err, body)
				}
			}
			for _, c := range calls {
				close(c.release)
			}
			synctest.Wait()
			total := sent
			for _, f := range tst.drainFrames() {
				if f.typ == http2.FrameData {
					total += f.dataLen
				}
			}
			if total != n*body {
				t.Fatalf("%d streams: %d bytes of DATA in all, want %d", n, total, n*body)
			}
		})
	}
}
