// Command wanclient measures one bulk transfer for bench/wan.sh: uploads
// (POST /sink) or downloads (GET /bytes?n=) of bench/server, on -streams
// concurrent streams of ONE HTTP/2 connection (h2c prior knowledge, Go's
// own client: net/http with Protocols.SetUnencryptedHTTP2).
//
//	go run ./bench/wanclient -addr 127.0.0.1:9000 -dir up -streams 8
//
// -size is the total over all streams, split evenly (64 MiB: 8 MiB each
// on 8 streams), so that every run moves the same bytes and the one- and
// eight-stream figures compare the same work: what eight streams add is
// concurrency, not volume. (A per-stream window that ramps up counts
// more on an 8 MiB stream than on a 64 MiB one; that is part of what the
// runs measure.)
//
// The connection is set up and warmed with one GET /hello before the
// clock starts, so the handshake and the SETTINGS exchange are not timed;
// the time runs from the first request to the last byte of the last
// response. Every body is checked: an upload's length comes back from
// /sink, a download is compared byte for byte with bench/internal/pattern.
//
// Downloads measure the server's sending, not our receiving: Go's client
// advertises 4 MiB per stream by default (http2transportDefaultStreamFlow
// in net/http's h2_bundle.go; 1 GiB per connection), which would cap a
// stream at 4 MiB per round trip (80 MiB/s at 50 ms, 40 MiB/s at 100 ms).
// -stream-window and -conn-window raise that to 16 MiB and 64 MiB by
// default (MaxReceiveBufferPerStream and MaxReceiveBufferPerConnection),
// above one bandwidth-delay product at 1 Gbit/s and 100 ms (12.5 MB).
//
// It prints one line of key=value pairs:
//
//	dir=up streams=8 bytes=67108864 seconds=0.5921 mibps=108.09 conns=1
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/h2server/h2server/bench/internal/pattern"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "server (or proxy) `host:port`")
	dir := flag.String("dir", "up", "`up`: POST /sink; down: GET /bytes")
	streams := flag.Int("streams", 1, "concurrent streams on the one connection")
	size := flag.Int64("size", 64<<20, "total bytes over all streams, split evenly")
	streamWindow := flag.Int("stream-window", 16<<20, "our receive window per stream, for downloads (bytes)")
	connWindow := flag.Int("conn-window", 64<<20, "our receive window per connection, for downloads (bytes)")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()

	if *dir != "up" && *dir != "down" {
		log.Fatalf("wanclient: -dir must be up or down, not %q", *dir)
	}
	if *streams < 1 || *size < int64(*streams) {
		log.Fatal("wanclient: want -streams >= 1 and -size >= -streams")
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res, err := run(ctx, *addr, *dir, *streams, *size, *streamWindow, *connWindow)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wanclient:", err)
		os.Exit(1)
	}
	fmt.Printf("dir=%s streams=%d bytes=%d seconds=%.4f mibps=%.2f conns=%d\n",
		*dir, *streams, res.bytes, res.elapsed.Seconds(), float64(res.bytes)/(1<<20)/res.elapsed.Seconds(), res.conns)
}

type result struct {
	bytes   int64
	elapsed time.Duration
	conns   int32
}

func run(ctx context.Context, addr, dir string, streams int, size int64, streamWindow, connWindow int) (result, error) {
	var dials atomic.Int32
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true) // h2c prior knowledge only
	tr := &http.Transport{
		Protocols: p,
		DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, a)
		},
		HTTP2: &http.HTTP2Config{
			MaxReceiveBufferPerStream:     streamWindow,
			MaxReceiveBufferPerConnection: connWindow,
		},
		DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	base := "http://" + addr

	// Warm up: one connection, its SETTINGS exchanged, before the clock.
	if err := hello(ctx, client, base); err != nil {
		return result{}, fmt.Errorf("warm-up GET /hello: %w", err)
	}

	per := size / int64(streams)
	errs := make(chan error, streams)
	var total atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range streams {
		n := per
		if i == streams-1 {
			n = size - per*int64(streams-1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if dir == "up" {
				err = upload(ctx, client, base, n)
			} else {
				err = download(ctx, client, base, n)
			}
			if err != nil {
				errs <- fmt.Errorf("stream %d: %w", i, err)
				return
			}
			total.Add(n)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		return result{}, err
	}
	if d := dials.Load(); d != 1 {
		return result{}, fmt.Errorf("the transfers used %d connections, want 1", d)
	}
	return result{bytes: total.Load(), elapsed: elapsed, conns: dials.Load()}, nil
}

func hello(ctx context.Context, client *http.Client, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/hello", nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("got %s %s, want HTTP/2.0 200", resp.Proto, resp.Status)
	}
	return nil
}

// upload POSTs n bytes of the pattern to /sink, which answers with the
// length it read.
func upload(ctx context.Context, client *http.Client, base string, n int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/sink", &pattern.Reader{N: n})
	if err != nil {
		return err
	}
	req.ContentLength = n
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /sink: %s", resp.Status)
	}
	if got, err := strconv.ParseInt(strings.TrimSpace(string(body)), 10, 64); err != nil || got != n {
		return fmt.Errorf("POST /sink: the server read %q bytes, want %d", body, n)
	}
	return nil
}

// download GETs n bytes from /bytes and checks each against the pattern.
func download(ctx context.Context, client *http.Client, base string, n int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/bytes?n="+strconv.FormatInt(n, 10), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /bytes: %s", resp.Status)
	}
	var c pattern.Checker
	if _, err := io.CopyBuffer(&c, resp.Body, make([]byte, 256<<10)); err != nil {
		return fmt.Errorf("GET /bytes: after %d bytes: %w", c.N, err)
	}
	if c.N != n {
		return fmt.Errorf("GET /bytes: got %d bytes, want %d", c.N, n)
	}
	return nil
}
