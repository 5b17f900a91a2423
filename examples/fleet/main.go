// Command fleet runs one instance of a service meant to run as several
// behind a load balancer, with the deployment settings from flags:
// connection age (so that the balancer can spread long-lived HTTP/2
// clients), keepalive (to find clients that vanished) and the PROXY
// protocol (to see the client's address behind an L4 balancer). SIGTERM or
// SIGINT drains it gracefully (GOAWAY) for a rolling restart.
//
//	go run ./examples/fleet -name a -addr 127.0.0.1:8081 \
//		-max-conn-age 30s -max-conn-age-grace 10s \
//		-read-idle-timeout 30s -ping-timeout 10s -proxy-protocol
//
// It prints one line when it listens, then serves h2c (HTTP/2 over
// cleartext with prior knowledge, as HAProxy's "proto h2" speaks it):
//
//	GET /        "<name> <n> <client address>": the instance, the request's
//	             number on it, and Request.RemoteAddr; with ?wait-drain,
//	             only once the instance starts draining (a request that
//	             spans a rolling restart). Every response sent while the
//	             instance drains has the header Fleet-Draining: true.
//	GET /health  200 "ok", for the balancer's health checks
//	GET /hold    a streaming response held open until its context ends;
//	             the cause is recorded (a vanished client ends it with the
//	             keepalive error)
//	GET /stats   JSON: name, requests served, distinct client addresses,
//	             requests waiting for the drain, holds open and the holds
//	             that ended, with their causes
//
// -proxy-protocol alone requires a PROXY header on every connection;
// -proxy-protocol=10.0.0.0/8,127.0.0.1/32 only on connections from those
// networks. The README's "Running several instances" shows the HAProxy
// configurations that interop/haproxy tests it with.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/h2server/h2server"
)

func main() {
	var (
		addr      = flag.String("addr", "127.0.0.1:8080", "TCP `host:port` to listen on")
		name      = flag.String("name", "fleet", "instance `name` in responses and /stats")
		age       = flag.Duration("max-conn-age", 0, "drain each connection after about this long (Server.MaxConnectionAge; 0: never)")
		grace     = flag.Duration("max-conn-age-grace", 0, "after a drain starts, close the connection once this is over (Server.MaxConnectionAgeGrace; 0: no bound)")
		readIdle  = flag.Duration("read-idle-timeout", 0, "PING a connection with open streams after this read silence (Server.ReadIdleTimeout; 0: the default)")
		pingWait  = flag.Duration("ping-timeout", 0, "close the connection when the PING is not answered within this (Server.PingTimeout; 0: the default)")
		shutdownT = flag.Duration("shutdown-timeout", 30*time.Second, "on SIGTERM or SIGINT, how long open streams may run before the connections are closed")
		proxy     proxyFlag
	)
	flag.Var(&proxy, "proxy-protocol", "require a PROXY protocol header (v1 or v2) on every connection, or, given a comma list of `CIDRs`, on connections from those networks")
	flag.Parse()

	inst := &instance{name: *name, clients: make(map[string]bool), draining: make(chan struct{})}
	srv := &h2server.Server{
		Handler:               h2server.HTTPHandler(inst.mux()),
		MaxConnectionAge:      *age,
		MaxConnectionAgeGrace: *grace,
		ReadIdleTimeout:       *readIdle,
		PingTimeout:           *pingWait,
		ProxyProtocol:         proxy.p,
	}
	srv.RegisterOnShutdown(func() { close(inst.draining) })
	if err := run(srv, *addr, *name, *shutdownT); err != nil {
		slog.Error("fleet failed", "name", *name, "err", err)
		os.Exit(1)
	}
}

func run(srv *h2server.Server, addr, name string, shutdownTimeout time.Duration) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Printf("fleet: %s listening on %s\n", name, ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills the process at once

	// Shutdown closes the listener at once (a balancer's new connections
	// are refused, which it may retry elsewhere), sends each connection
	// the two-phase GOAWAY, and waits for the streams already admitted.
	slog.Info("fleet: draining", "name", name, "timeout", shutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		slog.Warn("fleet: streams still open at the shutdown timeout were cut", "name", name, "err", err)
	}
	if err := <-serveErr; !errors.Is(err, h2server.ErrServerClosed) {
		return err
	}
	slog.Info("fleet: stopped", "name", name)
	return nil
}

// instance serves the routes and keeps what /stats reports.
type instance struct {
	name     string
	draining chan struct{} // closed when Shutdown starts

	mu       sync.Mutex
	requests int64           // guarded by mu: requests to /
	clients  map[string]bool // guarded by mu: Request.RemoteAddr of those requests
	waiting  int             // guarded by mu: requests to / waiting for the drain
	holding  int             // guarded by mu: /hold streams open
	held     []hold          // guarded by mu: /hold streams that ended
}

// hold is a /hold stream that ended.
type hold struct {
	Client  string  `json:"client"`
	Cause   string  `json:"cause"`
	Seconds float64 `json:"seconds"`  // how long it was held
	EndedMs int64   `json:"ended_ms"` // when its context ended, Unix milliseconds
}

func (in *instance) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", in.serveRoot)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /hold", in.serveHold)
	mux.HandleFunc("GET /stats", in.serveStats)
	return mux
}

func (in *instance) serveRoot(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("wait-drain") {
		in.mu.Lock()
		in.waiting++
		in.mu.Unlock()
		select {
		case <-in.draining:
		case <-r.Context().Done():
		}
		in.mu.Lock()
		in.waiting--
		in.mu.Unlock()
	}
	in.mu.Lock()
	in.requests++
	n := in.requests
	in.clients[r.RemoteAddr] = true
	in.mu.Unlock()
	select {
	case <-in.draining:
		w.Header().Set("Fleet-Draining", "true")
	default:
	}
	fmt.Fprintf(w, "%s %d %s\n", in.name, n, r.RemoteAddr)
}

// serveHold sends a line at once, then holds the response open until the
// stream's context ends: the client resets it, or the connection is lost
// (with keepalive, a client that vanished without a FIN is found), or the
// server stops.
func (in *instance) serveHold(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	in.mu.Lock()
	in.holding++
	in.mu.Unlock()
	fmt.Fprintf(w, "%s holding\n", in.name)
	http.NewResponseController(w).Flush()

	<-r.Context().Done()
	h := hold{
		Client:  r.RemoteAddr,
		Cause:   context.Cause(r.Context()).Error(),
		Seconds: time.Since(start).Seconds(),
		EndedMs: time.Now().UnixMilli(),
	}
	slog.Info("fleet: hold ended", "name", in.name, "client", h.Client, "cause", h.Cause, "held", time.Since(start).Round(time.Millisecond))
	in.mu.Lock()
	in.holding--
	in.held = append(in.held, h)
	in.mu.Unlock()
}

// Stats is the body of /stats.
type Stats struct {
	Name     string   `json:"name"`
	Requests int64    `json:"requests"` // to /
	Clients  []string `json:"clients"`  // their distinct Request.RemoteAddr, sorted
	Waiting  int      `json:"waiting"`  // requests to / waiting for the drain
	Holding  int      `json:"holding"`  // /hold streams open
	Held     []hold   `json:"held"`     // /hold streams that ended
}

func (in *instance) serveStats(w http.ResponseWriter, _ *http.Request) {
	in.mu.Lock()
	s := Stats{
		Name:     in.name,
		Requests: in.requests,
		Waiting:  in.waiting,
		Holding:  in.holding,
		Held:     slices.Clone(in.held),
	}
	for c := range in.clients {
		s.Clients = append(s.Clients, c)
	}
	in.mu.Unlock()
	slices.Sort(s.Clients)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(s)
}

// proxyFlag is -proxy-protocol: alone (or "true"), every connection
// must carry a PROXY header; a comma list of CIDRs, those from there.
type proxyFlag struct{ p *h2server.ProxyProtocol }

func (f *proxyFlag) IsBoolFlag() bool { return true }

func (f *proxyFlag) String() string {
	switch {
	case f == nil || f.p == nil:
		return "false"
	case len(f.p.From) == 0:
		return "true"
	}
	s := make([]string, len(f.p.From))
	for i, n := range f.p.From {
		s[i] = n.String()
	}
	return strings.Join(s, ",")
}

func (f *proxyFlag) Set(v string) error {
	switch v {
	case "false", "":
		f.p = nil
		return nil
	case "true":
		f.p = &h2server.ProxyProtocol{}
		return nil
	}
	p := &h2server.ProxyProtocol{}
	for s := range strings.SplitSeq(v, ",") {
		n, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want true, false or a comma list of CIDRs: %w", err)
		}
		p.From = append(p.From, n)
	}
	f.p = p
	return nil
}
