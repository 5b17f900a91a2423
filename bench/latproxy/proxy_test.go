package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// hangGuard bounds every connection in these tests: a generous deadline
// that only a hang reaches, never a timing assertion.
const hangGuard = 60 * time.Second

// startProxy runs a proxy in front of target and returns its address.
func startProxy(t testing.TB, cfg config) (*proxy, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(cfg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.serve(ln)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		p.close() // returns once every pair's goroutines are gone
	})
	return p, ln.Addr().String()
}

// listen starts a target that runs handle on each accepted connection
// (in its own goroutine) until the test ends.
func listen(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(hangGuard))
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(hangGuard))
	return c.(*net.TCPConn)
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n]
}

// echo sends back what it reads and half-closes when the client does.
func echo(c net.Conn) {
	io.Copy(c, c)
	c.(*net.TCPConn).CloseWrite()
}

// Bytes arrive intact and in order, both ways, on concurrent pairs, with
// the EOF of each direction forwarded as a half-close; with a delay, a
// rate cap and a queue small enough to fill.
func TestIntactInOrder(t *testing.T) {
	for _, tc := range []config{
		{},
		{delay: 2 * time.Millisecond, rate: 400e6, queue: 100 << 10},
	} {
		t.Run(fmt.Sprintf("delay=%v,rate=%g,queue=%d", tc.delay, tc.rate, tc.queue), func(t *testing.T) {
			if tc.queue == 0 {
				tc.queue = 64 << 20
			}
			tc.target = listen(t, echo)
			_, addr := startProxy(t, tc)
			const conns, size = 8, 1 << 20
			var wg sync.WaitGroup
			errs := make(chan error, conns)
			for i := range conns {
				c := dial(t, addr)
				want := randomBytes(uint64(i), size)
				wg.Add(1)
				go func() {
					defer wg.Done()
					go func() {
						// Writes of random sizes, then a half-close.
						r := rand.New(rand.NewPCG(uint64(i), 1))
						for p := want; len(p) > 0; {
							n := min(len(p), 1+r.IntN(100<<10))
							if _, err := c.Write(p[:n]); err != nil {
								return // the read below reports it
							}
							p = p[n:]
						}
						c.CloseWrite()
					}()
					got, err := io.ReadAll(c) // until the echo's half-close
					if err != nil {
						errs <- fmt.Errorf("conn %d: %v after %d bytes", i, err, len(got))
						return
					}
					if !bytes.Equal(got, want) {
						errs <- fmt.Errorf("conn %d: %d bytes back, want %d; first difference at %d", i, len(got), len(want), firstDiff(got, want))
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// No byte is delivered before the one-way delay, in either direction:
// the first byte of each chunk arrives at least delay after the sender
// began to write it. Lower bounds only.
func TestNoByteBeforeDelay(t *testing.T) {
	const delay = 50 * time.Millisecond
	sizes := []int{1, 1000, 100 << 10, 300 << 10}

	type stamp struct {
		sent time.Time
		size int
	}
	// The target is the receiver of "up" and the sender of "down"; the
	// two directions run one after the other on one pair.
	sends := make(chan stamp, 1)  // up: the client's send times
	arrivals := make(chan error)  // up: the target's verdict per chunk
	downSends := make(chan stamp) // down: the target's send times
	downNext := make(chan int)    // down: the client asks for a chunk
	target := listen(t, func(c net.Conn) {
		buf := make([]byte, 300<<10)
		for range sizes {
			s := <-sends
			if _, err := io.ReadFull(c, buf[:1]); err != nil {
				arrivals <- err
				return
			}
			at := time.Since(s.sent)
			if _, err := io.ReadFull(c, buf[1:s.size]); err != nil {
				arrivals <- err
				return
			}
			if at < delay {
				arrivals <- fmt.Errorf("up: first byte of a %d-byte chunk after %v, before the %v delay", s.size, at, delay)
			} else {
				arrivals <- nil
			}
		}
		for n := range downNext {
			downSends <- stamp{time.Now(), n}
			if _, err := c.Write(make([]byte, n)); err != nil {
				return
			}
		}
	})
	_, addr := startProxy(t, config{target: target, delay: delay, queue: 64 << 20})
	c := dial(t, addr)

	for _, n := range sizes {
		// The stamp is taken before the write begins: the proxy cannot
		// read a byte before it is written.
		sends <- stamp{time.Now(), n}
		if _, err := c.Write(make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		if err := <-arrivals; err != nil {
			t.Error(err)
		}
	}

	buf := make([]byte, 300<<10)
	for _, n := range sizes {
		downNext <- n
		s := <-downSends
		if _, err := io.ReadFull(c, buf[:1]); err != nil {
			t.Fatal(err)
		}
		if at := time.Since(s.sent); at < delay {
			t.Errorf("down: first byte of a %d-byte chunk after %v, before the %v delay", n, at, delay)
		}
		if _, err := io.ReadFull(c, buf[1:n]); err != nil {
			t.Fatal(err)
		}
	}
	close(downNext)
}

// The rate cap holds on average: N bytes take at least N/rate from the
// first write to the last byte's arrival, in each direction.
func TestRateCap(t *testing.T) {
	const rate = 16e6 // bytes/s
	const size = 4 << 20
	minTime := time.Duration(size / rate * float64(time.Second))
	for _, dir := range []string{"up", "down"} {
		t.Run(dir, func(t *testing.T) {
			start := make(chan time.Time, 1)
			done := make(chan error, 1)
			target := listen(t, func(c net.Conn) {
				if dir == "down" {
					start <- time.Now()
					c.Write(make([]byte, size))
					return
				}
				n, err := io.Copy(io.Discard, c)
				if err == nil && n != size {
					err = fmt.Errorf("target got %d bytes, want %d", n, size)
				}
				done <- err
			})
			_, addr := startProxy(t, config{target: target, rate: rate, queue: 64 << 20})
			c := dial(t, addr)
			var elapsed time.Duration
			if dir == "up" {
				t0 := time.Now()
				if _, err := c.Write(make([]byte, size)); err != nil {
					t.Fatal(err)
				}
				c.CloseWrite()
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				elapsed = time.Since(t0)
			} else {
				n, err := io.Copy(io.Discard, c)
				if err != nil || n != size {
					t.Fatalf("got %d bytes (%v), want %d", n, err, size)
				}
				elapsed = time.Since(<-start)
			}
			if elapsed < minTime {
				t.Errorf("%d bytes at %g bytes/s took %v, less than %v", size, rate, elapsed, minTime)
			}
			t.Logf("%d bytes in %v (%.1f MB/s, cap %.1f MB/s)", size, elapsed, size/elapsed.Seconds()/1e6, rate/1e6)
		})
	}
}

// Backpressure bounds the queue: with a receiver that does not read, the
// proxy fills its queue and stops reading; it never holds more than
// -queue bytes, and once the receiver reads, every byte arrives in order.
func TestBackpressureBoundsQueue(t *testing.T) {
	const queue = 256 << 10
	// More than the kernel's socket buffers on both legs can absorb, so
	// that the queue must fill.
	const size = 48 << 20
	full := make(chan struct{})
	var fullOnce sync.Once
	release := make(chan struct{})
	got := make(chan []byte, 1)
	target := listen(t, func(c net.Conn) {
		<-release
		b, _ := io.ReadAll(c)
		got <- b
	})
	p, addr := startProxy(t, config{target: target, queue: queue,
		onFull: func() { fullOnce.Do(func() { close(full) }) }})
	c := dial(t, addr)
	// 1 MiB blocks of random bytes, each stamped with its index: cheap
	// to make, and a lost, repeated or reordered block shows.
	block := randomBytes(7, 1<<20)
	want := make([]byte, 0, size)
	for i := range size >> 20 {
		block[0], block[1] = byte(i), byte(i>>8)
		want = append(want, block...)
	}
	go func() {
		c.Write(want)
		c.CloseWrite()
	}()
	select {
	case <-full:
	case <-time.After(hangGuard):
		t.Fatal("the queue never filled")
	}
	if m := p.maxQueued.Load(); m > queue {
		t.Errorf("the proxy held %d bytes, more than its %d-byte queue", m, queue)
	}
	close(release)
	b := <-got
	if !bytes.Equal(b, want) {
		t.Fatalf("target got %d bytes, want %d; first difference at %d", len(b), len(want), firstDiff(b, want))
	}
	if m := p.maxQueued.Load(); m > queue || m == 0 {
		t.Errorf("the proxy held at most %d bytes; want 1..%d", m, queue)
	}
}

// An abortive close (RST) of one side ends the pair: the other side's
// read fails instead of hanging.
func TestResetEndsPair(t *testing.T) {
	target := listen(t, func(c net.Conn) {
		c.Read(make([]byte, 1))
		c.(*net.TCPConn).SetLinger(0) // close with RST
	})
	_, addr := startProxy(t, config{target: target, delay: 5 * time.Millisecond, queue: 1 << 20})
	c := dial(t, addr)
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("read hung until the guard: %v", err)
	}
	if err == nil {
		t.Fatal("read succeeded after the target reset")
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"0", 0}, {"1gbit", 125e6}, {"100mbit", 12.5e6}, {"50MB", 50e6}, {"64MiB", 64 << 20}, {"1000", 1000},
	} {
		got, err := parseRate(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseRate(%q) = %g, %v; want %g", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "fast", "-1", "1gbitx"} {
		if _, err := parseRate(bad); err == nil {
			t.Errorf("parseRate(%q) succeeded", bad)
		}
	}
	if _, err := parseSize("1gbit"); err == nil {
		t.Error("parseSize accepted bits")
	}
}

// BenchmarkThroughput is the proxy's own ceiling on this machine: bytes
// pushed one way through it at no delay and no cap, until the receiver
// has them all, against the same over a direct loopback connection.
//
//	go test -run '^$' -bench Throughput -benchtime 2s ./bench/latproxy
func BenchmarkThroughput(b *testing.B) {
	const chunk = 256 << 10
	for _, via := range []string{"direct", "proxy"} {
		b.Run(via, func(b *testing.B) {
			got := make(chan int64, 1)
			addr := listen(b, func(c net.Conn) {
				n, _ := io.Copy(io.Discard, c)
				got <- n
			})
			if via == "proxy" {
				_, addr = startProxy(b, config{target: addr, queue: 64 << 20})
			}
			c := dial(b, addr)
			buf := make([]byte, chunk)
			b.SetBytes(chunk)
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			c.CloseWrite()
			if n := <-got; n != int64(b.N)*chunk {
				b.Fatalf("the receiver got %d bytes, want %d", n, int64(b.N)*chunk)
			}
		})
	}
}
