package haproxy

// The fleet tests: three examples/fleet processes behind HAProxy, as
// issue 11 (deployment) asks: a rolling restart without a failed request,
// long-lived clients spread by MaxConnectionAge through an L4 balancer
// speaking the PROXY protocol, and a vanished client found by keepalive.

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// fleetBin builds examples/fleet with -race, once per test binary.
func fleetBin(t *testing.T) string {
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "fleet-build-")
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "fleet")
		cmd := exec.Command("go", "build", "-race", "-o", buildPath, "github.com/h2server/h2server/examples/fleet")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build examples/fleet: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

var (
	portsMu sync.Mutex
	ports   = make(map[int]bool) // handed out by freePort
)

// freePort returns a loopback port nothing listens on, below the kernel's
// ephemeral range so that no outgoing connection (HAProxy makes many) can
// take it while a restarted instance is down. Its listener is closed
// before it is returned; nothing else on a test machine binds ports there
// at random.
func freePort(t *testing.T) int {
	lo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				lo = n
			}
		}
	}
	if lo <= 12000 {
		t.Fatalf("ephemeral port range starts at %d: no room below it for fixed ports", lo)
	}
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		p := 10000 + rand.IntN(lo-10000)
		if ports[p] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		ln.Close()
		ports[p] = true
		return p
	}
	t.Fatal("found no free port")
	return 0
}

// fleetStats is examples/fleet's /stats.
type fleetStats struct {
	Name     string   `json:"name"`
	Requests int64    `json:"requests"`
	Clients  []string `json:"clients"`
	Waiting  int      `json:"waiting"`
	Holding  int      `json:"holding"`
	Held     []struct {
		Client  string  `json:"client"`
		Cause   string  `json:"cause"`
		Seconds float64 `json:"seconds"`
		EndedMs int64   `json:"ended_ms"`
	} `json:"held"`
}

// instance is one examples/fleet process.
type instance struct {
	name, addr string
	cmd        *exec.Cmd
	out        *syncBuffer
	exited     chan struct{} // closed when Wait returned; err holds its error
	err        error
}

// listenWatch is the instance's stdout: it keeps everything and reports
// the address of the "listening on" line.
type listenWatch struct {
	out     *syncBuffer
	mu      sync.Mutex
	partial []byte
	addr    chan string // one send
}

func (w *listenWatch) Write(p []byte) (int, error) {
	w.out.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := slices.Index(w.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if _, a, ok := strings.Cut(line, " listening on "); ok && w.addr != nil {
			w.addr <- a
			w.addr = nil
		}
	}
}

// startInstance runs examples/fleet named name on addr (port 0: any)
// with the extra flags, and returns once it listens. The test kills it
// (by its PID) if it is still running at the end.
func startInstance(t *testing.T, bin, name, addr string, flags ...string) *instance {
	in := &instance{name: name, out: new(syncBuffer), exited: make(chan struct{})}
	args := append([]string{"-name", name, "-addr", addr, "-shutdown-timeout", "20s"}, flags...)
	in.cmd = exec.Command(bin, args...)
	listening := make(chan string, 1)
	watch := &listenWatch{out: in.out, addr: listening}
	in.cmd.Stdout = watch
	in.cmd.Stderr = in.out
	in.cmd.WaitDelay = 5 * time.Second
	if err := in.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		in.err = in.cmd.Wait()
		close(in.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-in.exited:
		default:
			in.cmd.Process.Kill()
			<-in.exited
		}
		if t.Failed() {
			t.Logf("instance %s (pid %d) output:\n%s", name, in.cmd.Process.Pid, in.out.String())
		}
	})
	select {
	case in.addr = <-listening:
	case <-in.exited:
		t.Fatalf("instance %s exited at start (%v):\n%s", name, in.err, in.out.String())
	case <-time.After(waitLimit):
		t.Fatalf("instance %s did not say where it listens within %v:\n%s", name, waitLimit, in.out.String())
	}
	return in
}

// stop sends SIGTERM and waits for the graceful exit, which must be a
// clean one (a race report exits with status 66).
func (in *instance) stop(t *testing.T) {
	t.Helper()
	if err := in.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM to %s: %v", in.name, err)
	}
	select {
	case <-in.exited:
	case <-time.After(waitLimit):
		t.Fatalf("instance %s still running %v after SIGTERM:\n%s", in.name, waitLimit, in.out.String())
	}
	if in.err != nil {
		t.Errorf("instance %s exited with %v after SIGTERM:\n%s", in.name, in.err, in.out.String())
	}
}

// h2cClient is an HTTP/2 client over cleartext (prior knowledge); dial,
// if set, replaces its dialer.
func h2cClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{
		Transport: &http.Transport{Protocols: &p, DialContext: dial},
		Timeout:   waitLimit,
	}
}

// stats asks the instance at addr, directly, what it saw.
func stats(t *testing.T, c *http.Client, addr string) fleetStats {
	t.Helper()
	resp, err := c.Get("http://" + addr + "/stats")
	if err != nil {
		t.Fatalf("stats of %s: %v", addr, err)
	}
	defer resp.Body.Close()
	var s fleetStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stats of %s: %s, %v", addr, resp.Status, err)
	}
	return s
}

// waitFor polls cond, every 20 ms, until it holds; waitLimit guards
// against a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %v for %s", waitLimit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// haproxy is a running HAProxy with an admin stats socket.
type haproxy struct {
	sock string
	out  *syncBuffer
}

// runHAProxy starts HAProxy in the foreground with cfg, a format whose
// first verb is the admin socket's path; the frontends bind fd@3,
// fd@4... in order, listening sockets that the test makes and HAProxy
// inherits (no port to guess). It returns the frontends' addresses once
// the admin socket answers; HAProxy is killed, by its PID, when the test
// ends.
func runHAProxy(t *testing.T, bin string, frontends int, cfg string, args ...any) (*haproxy, []string) {
	dir := t.TempDir()
	h := &haproxy{sock: filepath.Join(dir, "admin.sock"), out: new(syncBuffer)}
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, fmt.Appendf(nil, cfg, append([]any{h.sock}, args...)...), 0o600); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	var files []*os.File
	for range frontends {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := ln.(*net.TCPListener).File()
		ln.Close()
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		files = append(files, f)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.ExtraFiles = files
	cmd.Stdout, cmd.Stderr = h.out, h.out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Start()
	for _, f := range files {
		f.Close()
	}
	if err != nil {
		t.Fatalf("starting haproxy: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() || testing.Verbose() {
			t.Logf("haproxy output:\n%s", h.out.String())
		}
	})
	deadline := time.Now().Add(waitLimit)
	for {
		if _, err := h.cmd("show info"); err == nil {
			return h, addrs
		} else if time.Now().After(deadline) {
			t.Fatalf("haproxy's admin socket not answering after %v: %v\n%s", waitLimit, err, h.out.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("haproxy exited at start (%v):\n%s", err, h.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// cmd runs one command on the admin socket.
func (h *haproxy) cmd(line string) (string, error) {
	c, err := net.DialTimeout("unix", h.sock, waitLimit)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}

// serverStats returns the servers' rows of backend be's "show stat", by
// server name, as column name to value.
func (h *haproxy) serverStats(t *testing.T, be string) map[string]map[string]string {
	t.Helper()
	out, err := h.cmd("show stat")
	if err != nil {
		t.Fatalf("show stat: %v", err)
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "# ")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		t.Fatalf("show stat: %v\n%s", err, out)
	}
	servers := make(map[string]map[string]string)
	for _, row := range rows[1:] {
		if len(row) < 2 || row[0] != be || row[1] == "BACKEND" {
			continue
		}
		m := make(map[string]string)
		for i, col := range rows[0] {
			if i < len(row) {
				m[col] = row[i]
			}
		}
		servers[row[1]] = m
	}
	return servers
}

// loadResult is what a load generator counted.
type loadResult struct {
	mu         sync.Mutex
	ok         int64
	byInstance map[string]int64 // successes by the instance that answered
	draining   map[string]int64 // those it answered while draining
	failures   []string         // the first few
	nFailures  int64
}

func newLoadResult() *loadResult {
	return &loadResult{byInstance: make(map[string]int64), draining: make(map[string]int64)}
}

func (r *loadResult) success(instance string, draining bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ok++
	r.byInstance[instance]++
	if draining {
		r.draining[instance]++
	}
}

func (r *loadResult) failure(f string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nFailures++
	if len(r.failures) < 10 {
		r.failures = append(r.failures, f)
	}
}

func (r *loadResult) count(instance string) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byInstance[instance]
}

// get sends GET / and counts the outcome: success only for a 200 whose
// body says which instance answered ("name n client-address").
func (r *loadResult) get(c *http.Client, url string) {
	resp, err := c.Get(url)
	if err != nil {
		r.failure(err.Error())
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch f := strings.Fields(string(body)); {
	case err != nil:
		r.failure(fmt.Sprintf("reading the body: %v", err))
	case resp.StatusCode != http.StatusOK:
		r.failure(fmt.Sprintf("%s: %q", resp.Status, body))
	case len(f) != 3:
		r.failure(fmt.Sprintf("unexpected body %q", body))
	default:
		r.success(f[0], resp.Header.Get("Fleet-Draining") == "true")
	}
}

// runLoad starts workers that each send GET / after GET / with the
// client that worker(i) returns; the returned function stops them, each
// once its request in flight has been answered (none is cut short, so
// that every request counts). It runs at the end of the test at the
// latest.
func runLoad(t *testing.T, r *loadResult, workers int, url string, client func(i int) *http.Client) (stop func()) {
	var stopping atomic.Bool
	var wg sync.WaitGroup
	for i := range workers {
		c := client(i)
		wg.Go(func() {
			for !stopping.Load() {
				r.get(c, url)
			}
		})
	}
	stop = sync.OnceFunc(func() { stopping.Store(true); wg.Wait() })
	t.Cleanup(stop)
	return stop
}

// The rolling restart's HAProxy: an h2c frontend, three h2 backends with
// HTTP health checks (themselves over h2). Retries are HAProxy's default
// and only that: "retry-on conn-failure" retries a request only when the
// connection to the server could not be made, so the request was never
// sent (a stopping instance has closed its listener: connection refused);
// no L7 retry of a request a server may have seen (empty-response,
// response-timeout, status codes). "option redispatch 1" makes every such
// retry go to another server at once, instead of the same one after a
// one-second turn-around (HAProxy 2.6 configuration manual, "retries",
// "retry-on", "option redispatch"). The drain itself is h2's GOAWAY:
// HAProxy opens no new stream on a connection that received one. Health
// checks take a stopped instance out and put its successor back; a
// request routed to it in between is refused and redispatched. The
// use-server rules let the test send a request to the instance it is
// about to stop. Only errors and retried requests are logged
// (dontlog-normal).
const rollingConfig = `global
	stats socket %s level admin
	log stdout format raw local0 info

defaults
	mode http
	log global
	option httplog
	option dontlog-normal
	timeout connect 5s
	timeout client 30s
	timeout server 30s
	timeout check 5s
	retries 3
	retry-on conn-failure
	option redispatch 1

frontend fe
	bind fd@3 proto h2
	default_backend fleet

backend fleet
	balance roundrobin
	option httpchk GET /health
	default-server proto h2 check-proto h2 check inter 100ms fall 2 rise 1
	use-server s1 if { req.hdr(fleet-server) -m str s1 }
	use-server s2 if { req.hdr(fleet-server) -m str s2 }
	use-server s3 if { req.hdr(fleet-server) -m str s3 }
	server s1 %s
	server s2 %s
	server s3 %s
`

// TestFleetRollingRestart drives steady load through HAProxy while the
// three instances are restarted one by one (SIGTERM, then a fresh
// process on the same port): not one request may fail.
func TestFleetRollingRestart(t *testing.T) {
	hbin := haproxyBin(t)
	bin := fleetBin(t)
	direct := h2cClient(nil)
	defer direct.CloseIdleConnections()

	servers := []string{"s1", "s2", "s3"}
	addrs := make([]string, 3)
	insts := make([]*instance, 3)
	for i := range insts {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		insts[i] = startInstance(t, bin, servers[i]+".0", addrs[i])
	}
	h, fe := runHAProxy(t, hbin, 1, rollingConfig, addrs[0], addrs[1], addrs[2])
	up := func(server string) func() bool {
		return func() bool { return h.serverStats(t, "fleet")[server]["status"] == "UP" }
	}
	for _, s := range servers {
		waitFor(t, s+" UP in haproxy", up(s))
	}

	// The load: workers sending GET / one after another, over one h2c
	// connection to HAProxy (made before they start, so that they do not
	// race to dial).
	res := newLoadResult()
	client := h2cClient(nil)
	defer client.CloseIdleConnections()
	res.get(client, "http://"+fe[0]+"/")
	stopLoad := runLoad(t, res, 8, "http://"+fe[0]+"/", func(int) *http.Client { return client })

	// served waits until HAProxy has sent the instance some of the load.
	served := func(in *instance) {
		waitFor(t, in.name+" serving load through haproxy", func() bool { return res.count(in.name) >= 50 })
	}
	for _, in := range insts {
		served(in)
	}
	t0 := time.Now()
	for i, in := range insts {
		// A request that spans the restart: HAProxy routes it to the
		// instance (use-server), which holds it until it drains.
		type answer struct {
			status         int
			body, draining string
			err            error
		}
		answered := make(chan answer, 1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, "http://"+fe[0]+"/?wait-drain", nil)
			req.Header.Set("Fleet-Server", servers[i])
			resp, err := client.Do(req)
			if err != nil {
				answered <- answer{err: err}
				return
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			answered <- answer{resp.StatusCode, string(body), resp.Header.Get("Fleet-Draining"), err}
		}()
		waitFor(t, in.name+" to hold the request that spans its restart", func() bool { return stats(t, direct, in.addr).Waiting == 1 })
		in.stop(t)
		select {
		case a := <-answered:
			if a.err != nil || a.status != http.StatusOK || !strings.HasPrefix(a.body, in.name+" ") || a.draining != "true" {
				t.Errorf("the request held by %s across its restart: %d %q, Fleet-Draining %q, %v; want 200 from it while draining",
					in.name, a.status, a.body, a.draining, a.err)
			}
		case <-time.After(waitLimit):
			t.Fatalf("the request held by %s across its restart is still unanswered after %v", in.name, waitLimit)
		}
		next := startInstance(t, bin, fmt.Sprintf("%s.1", servers[i]), addrs[i])
		waitFor(t, servers[i]+" UP again in haproxy", up(servers[i]))
		served(next)
		insts[i] = next
	}
	took := time.Since(t0)
	stopLoad()

	st := h.serverStats(t, "fleet")
	var retries, redispatches []string
	for _, s := range servers {
		retries = append(retries, s+"="+st[s]["wretr"])
		redispatches = append(redispatches, s+"="+st[s]["wredis"])
	}
	var shares, drained []string
	for _, s := range servers {
		for _, gen := range []string{".0", ".1"} {
			shares = append(shares, fmt.Sprintf("%s%s=%d", s, gen, res.count(s+gen)))
		}
		drained = append(drained, fmt.Sprintf("%s.0=%d", s, res.draining[s+".0"]))
	}
	t.Logf("rolling restart of 3 instances in %v: %d requests, %d failures; by instance: %s; of the load, answered while draining: %s; haproxy retries %s, redispatches %s",
		took.Round(time.Millisecond), res.ok+res.nFailures, res.nFailures, strings.Join(shares, " "),
		strings.Join(drained, " "), strings.Join(retries, " "), strings.Join(redispatches, " "))
	if res.nFailures > 0 {
		t.Errorf("%d of %d requests failed during the rolling restart; the first:\n  %s",
			res.nFailures, res.ok+res.nFailures, strings.Join(res.failures, "\n  "))
	}
	// The load ran through every restart: 6 x 50 at the very least.
	if res.ok < 300 {
		t.Errorf("only %d requests succeeded during the run, want at least 300", res.ok)
	}
	// What each running instance counted is what the clients got from it.
	for _, in := range insts {
		if s := stats(t, direct, in.addr); s.Requests != res.count(in.name) {
			t.Errorf("%s counted %d requests, the clients %d answers from it", in.name, s.Requests, res.count(in.name))
		}
	}
}

// The rebalancing HAProxy: L4 (mode tcp), each client connection relayed
// to one instance with a PROXY v2 header first. s2 and s3 start in
// maintenance, so every first connection lands on s1; the test enables
// them through the admin socket. HAProxy connects from 127.0.0.2, the
// network the instances expect PROXY headers from (-proxy-protocol
// 127.0.0.2/32), so the test's own /stats requests from 127.0.0.1 need
// none. leastconn places a reconnecting client on the instance with the
// fewest connections.
const rebalanceConfig = `global
	stats socket %s level admin

defaults
	mode tcp
	timeout connect 5s
	timeout client 30s
	timeout server 30s
	retries 3
	option redispatch 1

frontend fe
	bind fd@3
	default_backend fleet

backend fleet
	balance leastconn
	default-server send-proxy-v2 source 127.0.0.2
	server s1 %s
	server s2 %s disabled
	server s3 %s disabled
`

// TestFleetRebalance runs ten long-lived HTTP/2 clients, each with its
// own connection, through HAProxy in mode tcp to three instances with the
// PROXY protocol, twice: without MaxConnectionAge, the clients stay where
// they first connected (all on s1, the only instance enabled then); with
// it, they reconnect as their connections age and HAProxy spreads them,
// each instance serving at least a fifth of the requests. Each instance
// reports the client addresses it saw: the clients' own, never HAProxy's.
func TestFleetRebalance(t *testing.T) {
	hbin := haproxyBin(t)
	bin := fleetBin(t)

	t.Run("no_age", func(t *testing.T) {
		shares := rebalanceRun(t, hbin, bin, nil)
		if shares["s1"] <= 0.9 {
			t.Errorf("without MaxConnectionAge s1 served %.1f%% of the requests, want over 90%% (the connections stay where they first landed)", 100*shares["s1"])
		}
	})
	t.Run("age", func(t *testing.T) {
		shares := rebalanceRun(t, hbin, bin, []string{"-max-conn-age", "2s", "-max-conn-age-grace", "5s"})
		for _, s := range []string{"s1", "s2", "s3"} {
			if shares[s] < 0.2 {
				t.Errorf("with MaxConnectionAge 2s, %s served %.1f%% of the requests, want at least 20%%", s, 100*shares[s])
			}
		}
	})
}

// rebalanceRun is one run of TestFleetRebalance with the instances' extra
// flags; it returns each instance's share of the requests sent after s2
// and s3 were enabled.
func rebalanceRun(t *testing.T, hbin, bin string, flags []string) map[string]float64 {
	const nClients = 10
	aging := len(flags) > 0
	direct := h2cClient(nil)
	defer direct.CloseIdleConnections()
	servers := []string{"s1", "s2", "s3"}
	insts := make([]*instance, 3)
	for i := range insts {
		addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		insts[i] = startInstance(t, bin, servers[i], addr, append([]string{"-proxy-protocol=127.0.0.2/32"}, flags...)...)
	}
	h, fe := runHAProxy(t, hbin, 1, rebalanceConfig, insts[0].addr, insts[1].addr, insts[2].addr)

	// Each client records the local address of every connection it makes:
	// the addresses the instances must report.
	var (
		addrMu      sync.Mutex
		clientAddrs = make(map[string]bool)
		dials       [nClients]atomic.Int64
	)
	clients := make([]*http.Client, nClients)
	for i := range clients {
		clients[i] = h2cClient(func(ctx context.Context, network, _ string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, fe[0])
			if err == nil {
				addrMu.Lock()
				clientAddrs[c.LocalAddr().String()] = true
				addrMu.Unlock()
				dials[i].Add(1)
			}
			return c, err
		})
		defer clients[i].CloseIdleConnections()
	}

	// Every client connects while only s1 is enabled.
	warm := newLoadResult()
	for _, c := range clients {
		warm.get(c, "http://"+fe[0]+"/")
	}
	if warm.nFailures > 0 || warm.count("s1") != nClients {
		t.Fatalf("first requests: %d to s1 of %d, failures: %v", warm.count("s1"), nClients, warm.failures)
	}
	for _, s := range servers[1:] {
		if out, err := h.cmd("set server fleet/" + s + " state ready"); err != nil || strings.TrimSpace(out) != "" {
			t.Fatalf("enabling %s: %q, %v", s, out, err)
		}
	}
	waitFor(t, "s2 and s3 enabled", func() bool {
		st := h.serverStats(t, "fleet")
		return !strings.Contains(st["s2"]["status"], "MAINT") && !strings.Contains(st["s3"]["status"], "MAINT")
	})

	// The load: each client sends GET / after GET /. The window measured
	// runs from when every client has replaced the connection it opened
	// to s1 (with ages) until each has connected four more times; without
	// ages, for as long as two ages would take.
	res := newLoadResult()
	stopLoad := runLoad(t, res, nClients, "http://"+fe[0]+"/", func(i int) *http.Client { return clients[i] })
	var before map[string]int64
	snapshot := func() map[string]int64 {
		m := make(map[string]int64)
		for _, s := range servers {
			m[s] = res.count(s)
		}
		return m
	}
	t0 := time.Now()
	if aging {
		minDials := func(n int64) func() bool {
			return func() bool {
				for i := range dials {
					if dials[i].Load() < n {
						return false
					}
				}
				return true
			}
		}
		waitFor(t, "every client to reconnect once", minDials(2))
		before = snapshot()
		t0 = time.Now()
		waitFor(t, "every client to reconnect four more times", minDials(6))
	} else {
		before = snapshot()
		time.Sleep(4 * time.Second) // the run's length: nothing is awaited
	}
	after := snapshot()
	took := time.Since(t0)
	stopLoad()

	var total int64
	for _, s := range servers {
		total += after[s] - before[s]
	}
	if total == 0 {
		t.Fatal("no request succeeded in the window")
	}
	shares := make(map[string]float64)
	var figures []string
	for _, s := range servers {
		n := after[s] - before[s]
		shares[s] = float64(n) / float64(total)
		figures = append(figures, fmt.Sprintf("%s %d (%.1f%%)", s, n, 100*shares[s]))
	}
	var nDials int64
	for i := range dials {
		nDials += dials[i].Load()
	}
	t.Logf("%d clients, %v window: %d requests, %d failures; by instance: %s; the clients made %d connections in all",
		nClients, took.Round(time.Millisecond), total, res.nFailures, strings.Join(figures, ", "), nDials)
	if res.nFailures > 0 {
		t.Errorf("%d requests failed; the first:\n  %s", res.nFailures, strings.Join(res.failures, "\n  "))
	}
	if !aging && nDials != nClients {
		t.Errorf("without MaxConnectionAge the clients made %d connections, want %d (one each)", nDials, nClients)
	}

	// Each instance counted what the clients got from it, and saw only
	// the clients' own addresses, through the PROXY header.
	addrMu.Lock()
	defer addrMu.Unlock()
	var seen []string
	for _, in := range insts {
		s := stats(t, direct, in.addr)
		if want := warm.count(in.name) + res.count(in.name); s.Requests != want {
			t.Errorf("%s counted %d requests, the clients %d answers from it", in.name, s.Requests, want)
		}
		for _, a := range s.Clients {
			if !clientAddrs[a] {
				t.Errorf("%s saw client address %s, which is none of the clients' (%d recorded): HAProxy's?", in.name, a, len(clientAddrs))
			}
		}
		seen = append(seen, fmt.Sprintf("%s %d", in.name, len(s.Clients)))
	}
	t.Logf("client addresses each instance saw (all among the clients' %d): %s", len(clientAddrs), strings.Join(seen, ", "))
	return shares
}

// blackhole is a TCP proxy to one target that, on command, stops
// forwarding in both directions while keeping both sockets open, as a
// network that drops a flow's packets.
type blackhole struct {
	ln       net.Listener
	target   string
	dropping atomic.Bool
	mu       sync.Mutex
	upstream []net.Conn // guarded by mu: the connections to the target
	wg       sync.WaitGroup
}

func startBlackhole(t *testing.T, target string) *blackhole {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{ln: ln, target: target}
	var conns []net.Conn // guarded by b.mu
	b.wg.Go(func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				down.Close()
				continue
			}
			b.mu.Lock()
			b.upstream = append(b.upstream, up)
			conns = append(conns, down, up)
			b.mu.Unlock()
			b.wg.Go(func() { b.pipe(up, down) })
			b.wg.Go(func() { b.pipe(down, up) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

// pipe copies src to dst until src fails; while dropping, what it reads
// goes nowhere.
func (b *blackhole) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !b.dropping.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// upstreamAddrs are the local addresses of the proxy's connections to the
// target: the client addresses the target sees.
func (b *blackhole) upstreamAddrs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var a []string
	for _, c := range b.upstream {
		a = append(a, c.LocalAddr().String())
	}
	return a
}

// TestFleetDeadPeer holds two streaming requests open on an instance with
// ReadIdleTimeout 1s and PingTimeout 1s, each through its own proxy,
// then blackholes one proxy: the instance must end that stream's context
// with the keepalive cause within ReadIdleTimeout + PingTimeout, while
// the other client, silent but answering PINGs, keeps its stream.
func TestFleetDeadPeer(t *testing.T) {
	const idle, pingTimeout = time.Second, time.Second
	bin := fleetBin(t)
	in := startInstance(t, bin, "k", "127.0.0.1:0",
		"-read-idle-timeout", idle.String(), "-ping-timeout", pingTimeout.String())
	direct := h2cClient(nil)
	defer direct.CloseIdleConnections()

	// hold opens GET /hold through a proxy and returns once the
	// instance's first line arrived, the body still open.
	type held struct {
		proxy  *blackhole
		client *http.Client
		body   io.ReadCloser
		cancel context.CancelFunc
		// opened: when the instance's first line arrived. The instance
		// started the hold before it, so whatever the hold lasts from
		// here until the client cancels, the instance's own count of
		// its length is at least that.
		opened time.Time
	}
	hold := func() *held {
		p := startBlackhole(t, in.addr)
		c := h2cClient(func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, p.ln.Addr().String())
		})
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(func() { cancel(); c.CloseIdleConnections() })
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+in.addr+"/hold", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET /hold: %v", err)
		}
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || resp.StatusCode != http.StatusOK || line != "k holding\n" {
			t.Fatalf("GET /hold: %s, %q, %v", resp.Status, line, err)
		}
		return &held{p, c, resp.Body, cancel, time.Now()}
	}
	dead, alive := hold(), hold()
	waitFor(t, "both holds open on the instance", func() bool { return stats(t, direct, in.addr).Holding == 2 })

	dead.proxy.dropping.Store(true)
	blackholed := time.Now()
	var s fleetStats
	waitFor(t, "the instance to end the blackholed stream", func() bool {
		s = stats(t, direct, in.addr)
		return len(s.Held) > 0
	})
	h := s.Held[0]
	detected := time.UnixMilli(h.EndedMs).Sub(blackholed)
	t.Logf("dead peer (ReadIdleTimeout %v, PingTimeout %v): the instance ended the blackholed stream %v after the blackhole, held %.3fs, cause %q",
		idle, pingTimeout, detected.Round(time.Millisecond), h.Seconds, h.Cause)
	if want := dead.proxy.upstreamAddrs(); !slices.Contains(want, h.Client) {
		t.Errorf("the stream that ended came from %s, want the blackholed connection (%v)", h.Client, want)
	}
	if !strings.Contains(h.Cause, "keepalive") {
		t.Errorf("the blackholed stream ended with %q, want the keepalive cause", h.Cause)
	}
	// The bound: the instance read its last byte from the dead peer before
	// the blackhole, so PING plus timeout are over by idle + pingTimeout
	// after it; a second on top for timers on a busy machine.
	if limit := idle + pingTimeout + time.Second; detected > limit {
		t.Errorf("detected %v after the blackhole, want within %v (ReadIdleTimeout + PingTimeout + 1s of timer slack)", detected, limit)
	}
	if s.Holding != 1 {
		t.Errorf("%d holds open after the dead peer was found, want 1 (the live client's)", s.Holding)
	}

	// The live client answered the instance's PINGs: its stream stays
	// open through several keepalive rounds, until it cancels.
	keep := 2 * (idle + pingTimeout)
	waitFor(t, "the live hold to have lasted two keepalive rounds", func() bool { return time.Since(alive.opened) > keep })
	if s := stats(t, direct, in.addr); s.Holding != 1 || len(s.Held) != 1 {
		t.Fatalf("after %v the live client's hold is gone: %+v", keep, s)
	}
	kept := time.Since(alive.opened)
	alive.cancel()
	waitFor(t, "the live hold to end on the client's cancel", func() bool {
		s = stats(t, direct, in.addr)
		return len(s.Held) == 2
	})
	// Two processes' clocks: a millisecond of slack.
	if c := s.Held[1].Cause; strings.Contains(c, "keepalive") || s.Held[1].Seconds < kept.Seconds()-0.001 {
		t.Errorf("the live client's hold ended after %.3fs with %q, want at least %.3fs (from its first line to the cancel) and not the keepalive cause", s.Held[1].Seconds, c, kept.Seconds())
	}
	if want := alive.proxy.upstreamAddrs(); !slices.Contains(want, s.Held[1].Client) {
		t.Errorf("the second hold that ended came from %s, want the live client's connection (%v)", s.Held[1].Client, want)
	}
	in.stop(t)
}
