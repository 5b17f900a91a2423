package h2server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// Response bodies on a plain TCP socket leave without a copy into the
// batch: whole chunks of a stream's buffer are spliced into it and written
// with writev (outBuf.addRef). These tests check the bytes that arrive.

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

// TestOutBufRefsInOrder: bytes written into the batch and chunks spliced
// into it arrive in the order they were added, across batches that go
// out before they would pass maxRefBatch, with and without a write
// deadline.
func TestOutBufRefsInOrder(t *testing.T) {
	for _, deadline := range []bool{false, true} {
		t.Run(fmt.Sprintf("deadline=%v", deadline), func(t *testing.T) {
			a, b := tcpPair(t)
			o := &outBuf{out: a, sock: a}
			if deadline {
				o.out = &deadlineWriter{nc: a, d: time.Minute}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			var want bytes.Buffer
			for i := range 200 {
				n := rng.IntN(3000)
				if rng.IntN(2) == 0 {
					n = frameHeaderLen + chunkSize // a DATA frame copied whole
				}
				small := make([]byte, n)
				for j := range small {
					small[j] = byte(rng.Uint32())
				}
				if _, err := o.Write(small); err != nil {
					t.Fatal(err)
				}
				want.Write(small)
				if held := o.refBytes() + len(o.buf); o.refBytes() > 0 && held > maxRefBatch {
					t.Fatalf("a batch of %d bytes is held (maxRefBatch %d)", held, maxRefBatch)
				}
				if i%3 == 2 {
					continue // two writes in a row
				}
				c := chunkPool.Get().(*[chunkSize]byte)
				for j := range c {
					c[j] = byte(i + j)
				}
				var hdr [frameHeaderLen]byte
				for j := range hdr {
					hdr[j] = byte(rng.Uint32())
				}
				want.Write(hdr[:])
				want.Write(c[:])
				if err := o.addRef(hdr[:], c); err != nil {
					t.Fatal(err)
				}
				// What is held goes out in one write: it may not pass
				// maxRefBatch, and has room for a frame (else it went).
				if held := o.refBytes() + len(o.buf); held+frameHeaderLen+chunkSize > maxRefBatch {
					t.Fatalf("a batch of %d bytes is held (maxRefBatch %d)", held, maxRefBatch)
				}
			}
			got := make(chan []byte, 1)
			go func() {
				p, _ := io.ReadAll(b)
				got <- p
			}()
			if err := o.flush(); err != nil {
				t.Fatal(err)
			}
			if o.buf != nil || o.refBytes() != 0 {
				t.Fatalf("after flush the batch holds %d bytes and %d of chunks", len(o.buf), o.refBytes())
			}
			a.CloseWrite()
			if p := <-got; !bytes.Equal(p, want.Bytes()) {
				t.Fatalf("received %d bytes, want %d; first difference at %d", len(p), want.Len(), firstDiffAt(p, want.Bytes()))
			}
			o.release()
			if o.vec != nil {
				t.Fatal("release kept the scratch")
			}
		})
	}
}

// TestOutBufChunkAfterCopies: a whole chunk that follows a batch of
// copies filling the huge buffer all but a few bytes starts the next
// write, its frame header whole with it (not split between two writes),
// and the batch stays within maxRefBatch.
func TestOutBufChunkAfterCopies(t *testing.T) {
	a, b := tcpPair(t)
	go io.Copy(io.Discard, b)
	o := &outBuf{out: a, sock: a}
	o.Write(make([]byte, writeBufferSize))       // fills the big buffer
	o.Write(make([]byte, hugeWriteBufferSize-4)) // on in the huge one
	if len(o.buf) != hugeWriteBufferSize-4 {
		t.Fatalf("the batch holds %d bytes before the chunk, want %d", len(o.buf), hugeWriteBufferSize-4)
	}
	if err := o.addRef(make([]byte, frameHeaderLen), chunkPool.Get().(*[chunkSize]byte)); err != nil {
		t.Fatal(err)
	}
	if held := o.refBytes() + len(o.buf); held+frameHeaderLen+chunkSize > maxRefBatch {
		t.Fatalf("a batch of %d bytes is held (maxRefBatch %d)", held, maxRefBatch)
	}
	if len(o.buf) != frameHeaderLen {
		t.Fatalf("the batch holds %d bytes before its chunk, want the %d-byte frame header alone", len(o.buf), frameHeaderLen)
	}
	o.release()
}

// TestOutBufRefsWriteError: a writev that fails reports the error and
// the batch still gives its chunks back.
func TestOutBufRefsWriteError(t *testing.T) {
	a, b := tcpPair(t)
	b.Close()
	a.Close()
	o := &outBuf{out: a, sock: a}
	o.Write([]byte("head"))
	o.addRef(make([]byte, frameHeaderLen), chunkPool.Get().(*[chunkSize]byte))
	if err := o.flush(); err == nil {
		t.Fatal("flush on a closed socket succeeded")
	}
	if o.refBytes() != 0 || o.buf != nil {
		t.Fatalf("after a failed flush the batch holds %d bytes and %d of chunks", len(o.buf), o.refBytes())
	}
}

func firstDiffAt(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// vecBody is the body of /vec/SEED/SIZE: SIZE bytes of a seeded stream.
func vecBody(seed uint64, size int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	return p
}

// TestVectoredBodiesIntact: eight concurrent downloads of 1 to 3 MiB,
// each written in writes of random sizes (so chunks are sometimes whole
// and sometimes not when the writer takes them) and ending with
// trailers, arrive intact through Go's client, over h2c (the spliced
// chunks) and TLS (copies; from ServeTLS, whose records of a batch leave
// together, and from a tls.NewListener), and the FrameWritten hook sees
// every DATA byte.
func TestVectoredBodiesIntact(t *testing.T) {
	for _, mode := range []string{"h2c", "tls", "tls-listener"} {
		t.Run(mode, func(t *testing.T) {
			var dataBytes atomic.Int64
			srv := &Server{Handler: HandlerFunc(func(st *Stream) {
				var seed uint64
				var size int
				if _, err := fmt.Sscanf(st.Request().Path, "/vec/%d/%d", &seed, &size); err != nil {
					st.WriteHeaders(http.StatusNotFound, nil)
					return
				}
				body := vecBody(seed, size)
				st.WriteHeaders(http.StatusOK, http.Header{"Trailer": {"Body-Len"}})
				rng := rand.New(rand.NewPCG(seed, 7))
				for len(body) > 0 {
					n := min(len(body), 1+rng.IntN(40000))
					if _, err := st.Write(body[:n]); err != nil {
						return
					}
					body = body[n:]
				}
				st.WriteTrailers(http.Header{"Body-Len": {strconv.Itoa(size)}})
			})}
			srv.Hooks = &Hooks{FrameWritten: func(_ *ConnInfo, h http2.FrameHeader) {
				if h.Type == http2.FrameData {
					dataBytes.Add(int64(h.Length))
				}
			}}
			var ls *liveServer
			if mode == "tls-listener" {
				ls = startServerTLSListener(t, srv)
			} else {
				ls = startServer(t, srv, mode == "tls")
			}
			client := &http.Client{Transport: xnetTransport(t, ls)}
			var wg sync.WaitGroup
			var total atomic.Int64
			errs := make(chan error, 8)
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					seed, size := uint64(i+1), 1<<20+i*(300<<10)+i*7
					ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
					defer cancel()
					req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/vec/%d/%d", ls.url, seed, size), nil)
					resp, err := client.Do(req)
					if err != nil {
						errs <- err
						return
					}
					defer resp.Body.Close()
					got, err := io.ReadAll(resp.Body)
					if err != nil {
						errs <- fmt.Errorf("body %d: %w", i, err)
						return
					}
					if want := vecBody(seed, size); !bytes.Equal(got, want) {
						errs <- fmt.Errorf("body %d: %d bytes, want %d; first difference at %d", i, len(got), len(want), firstDiffAt(got, want))
						return
					}
					if tr := resp.Trailer.Get("Body-Len"); tr != strconv.Itoa(size) {
						errs <- fmt.Errorf("body %d: trailer Body-Len %q, want %d", i, tr, size)
						return
					}
					total.Add(int64(size))
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if t.Failed() {
				return
			}
			if got, want := dataBytes.Load(), total.Load(); got != want {
				t.Errorf("FrameWritten saw %d bytes of DATA, want %d", got, want)
			}
		})
	}
}
