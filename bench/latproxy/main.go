// Command latproxy is a TCP proxy for loopback that stands in for a long
// fat network: it delivers every byte a fixed one-way delay (-rtt/2) after
// it read it, in each direction, optionally no faster than -rate, and
// holds at most -queue bytes per direction in between. This machine's
// kernel has no netem, so bench/wan.sh puts this in front of the server.
//
//	go run ./bench/latproxy -listen 127.0.0.1:9000 -target 127.0.0.1:8443 -rtt 50ms -rate 1gbit
//
// Each direction is a reader and a writer goroutine around a FIFO of
// chunks (pipe.go). The reader stamps a chunk with its read time and its
// delivery time, the time a link would hand over its last byte: the link
// serialises the chunk at -rate after the previous one (never earlier
// than the chunk was read), then the bytes travel for rtt/2. The writer
// sleeps until the head chunk is due and then writes every chunk that is
// due in one batch (one timer per batch, not per byte: Go's timers are
// good to about a millisecond on Linux). When the queue is full the
// reader stops reading, so the sender's TCP sees backpressure; no byte is
// ever dropped. EOF from one side is forwarded as a half-close
// (CloseWrite) once its queue has drained; an error on either side, or
// both directions finished, closes the pair.
//
// It prints "listening on ADDR" once it accepts connections and exits on
// SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "TCP `host:port` to accept connections on")
	target := flag.String("target", "", "TCP `host:port` to forward each connection to (required)")
	rtt := flag.Duration("rtt", 0, "round-trip time to add: each direction delays every byte by rtt/2")
	rate := flag.String("rate", "0", "bandwidth cap per direction, e.g. 1gbit, 100mbit, 50MB (bytes/s), 0 for none")
	queue := flag.String("queue", "auto", "bytes held per direction before the proxy stops reading, e.g. 16MiB; auto: 64 MiB, or one BDP at -rate plus 4 MiB if that is more")
	quiet := flag.Bool("quiet", false, "do not log each connection")
	flag.Parse()

	if *target == "" {
		log.Fatal("latproxy: -target is required")
	}
	if *rtt < 0 {
		log.Fatal("latproxy: -rtt must not be negative")
	}
	bps, err := parseRate(*rate)
	if err != nil {
		log.Fatalf("latproxy: -rate: %v", err)
	}
	cfg := config{target: *target, delay: *rtt / 2, rate: bps}
	if *queue == "auto" {
		cfg.queue = autoQueue(bps, *rtt)
	} else if cfg.queue, err = parseSize(*queue); err != nil || cfg.queue < 1 {
		log.Fatalf("latproxy: -queue: want a positive size such as 64MiB, got %q", *queue)
	}
	if !*quiet {
		cfg.logf = log.Printf
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal("latproxy: ", err)
	}
	fmt.Fprintf(os.Stderr, "latproxy: rtt %v (one-way %v), rate %s, queue %d bytes per direction, pid %d\n",
		*rtt, cfg.delay, rateString(bps), cfg.queue, os.Getpid())
	fmt.Printf("listening on %s\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := newProxy(cfg)
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	if err := p.serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
		log.Fatal("latproxy: ", err)
	}
	p.close()
}

// autoQueue is the default queue per direction: 64 MiB, or one
// bandwidth-delay product at the cap (twice what the one-way delay holds
// in flight) plus 4 MiB of slack, if that is more.
//
// Why not just a BDP: the queue never holds more than the sender's flow
// control window allows, and HTTP/2 windows of 16 MiB are what the runs
// compare; with a BDP-sized queue a window above the BDP fills it, and
// then any stall downstream of the "link" (the proxy's writer or the
// server not scheduled for a few tens of milliseconds on a busy machine)
// stops the reader and idles the modelled link, which then shows CPU
// contention, not flow control. A real receiver's socket buffer hides
// such stalls; 64 MiB does the same here. The excess of a window over the
// BDP delays the sender's later bytes (and a PING behind them) wherever
// it waits, in this queue or in the sender's socket buffer, so a smaller
// queue would not make the delays more realistic.
func autoQueue(rate float64, rtt time.Duration) int {
	return max(64<<20, int(rate*rtt.Seconds())+4<<20)
}

// parseRate reads a bandwidth: a number with a unit of bits (kbit, mbit,
// gbit, decimal) or bytes (B, KB, MB, GB decimal; KiB, MiB, GiB binary)
// per second; a bare number is bytes per second.
func parseRate(s string) (float64, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   float64
	}{
		{"gbit", 1e9 / 8}, {"mbit", 1e6 / 8}, {"kbit", 1e3 / 8}, {"bit", 1.0 / 8},
		{"gib", 1 << 30}, {"mib", 1 << 20}, {"kib", 1 << 10},
		{"gb", 1e9}, {"mb", 1e6}, {"kb", 1e3}, {"b", 1},
	}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("want a rate such as 1gbit or 100MB, or 0")
	}
	return v * mult, nil
}

// parseSize reads a byte count: a number with an optional B, KiB, MiB or
// GiB (binary) or KB, MB, GB (decimal) suffix.
func parseSize(s string) (int, error) {
	v, err := parseRate(s)
	if err != nil {
		return 0, err
	}
	if strings.Contains(strings.ToLower(s), "bit") {
		return 0, fmt.Errorf("a size is in bytes, not bits")
	}
	return int(v), nil
}

func rateString(bps float64) string {
	if bps <= 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%.0f bytes/s (%.3g Mbit/s)", bps, bps*8/1e6)
}
