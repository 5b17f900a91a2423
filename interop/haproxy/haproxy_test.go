package haproxy

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/h2server/h2server"
)

// waitLimit bounds every wait: a guard against a hang, not a timing
// assumption.
const waitLimit = 20 * time.Second

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// haproxyBin finds haproxy: missing, the test is skipped, or fails when
// CI=true (CI installs it).
func haproxyBin(t *testing.T) string {
	path, err := exec.LookPath("haproxy")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("haproxy not found (%v); CI installs it with apt-get install haproxy", err)
		}
		t.Skipf("haproxy not found (%v); apt-get install haproxy to run this test", err)
	}
	return path
}

// seen is one request as the backend saw it.
type seen struct {
	method, path, proto string
	protoMajor          int
	bodyLen             int
	bodySum             string
}

// backend is an h2server (h2c only: no HTTP1) that answers GET with a
// hello and echoes POST bodies, and records what it saw.
type backend struct {
	srv  *h2server.Server
	addr string
	log  syncBuffer

	conns, closed atomic.Int64 // connections that passed the HTTP/2 preface, and those gone

	mu       sync.Mutex
	requests map[string]seen // guarded by mu: by path
	oddities []string        // guarded by mu: rejections and streams that ended in error
}

func startBackend(t *testing.T) *backend {
	b := &backend{requests: make(map[string]seen)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.addr = ln.Addr().String()
	srv := &h2server.Server{
		Handler: h2server.HTTPHandler(http.HandlerFunc(b.serveHTTP)),
		Logger:  slog.New(slog.NewTextHandler(&b.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Hooks: &h2server.Hooks{
			ConnOpened: func(*h2server.ConnInfo) { b.conns.Add(1) },
			ConnClosed: func(*h2server.ConnInfo) { b.closed.Add(1) },
			Rejected: func(r *h2server.Rejection) {
				b.odd(fmt.Sprintf("rejected stream %d: %v %s", r.StreamID, r.Code, r.Reason))
			},
			StreamEnded: func(s *h2server.StreamInfo) {
				if s.Err != nil {
					b.odd(fmt.Sprintf("stream %d (%s %s) ended with %v", s.StreamID, s.Request.Method, s.Request.Path, s.Err))
				}
			},
		},
	}
	b.srv = srv
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != h2server.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return b
}

func (b *backend) odd(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.oddities = append(b.oddities, s)
}

func (b *backend) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256(body)
	b.mu.Lock()
	b.requests[r.URL.Path] = seen{r.Method, r.URL.Path, r.Proto, r.ProtoMajor, len(body), hex.EncodeToString(sum[:])}
	b.mu.Unlock()
	w.Header().Set("X-Proto", r.Proto)
	w.Header().Set("X-Body-Sha256", hex.EncodeToString(sum[:]))
	if r.Method != http.MethodPost {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "hello, world\n%s %s %s\n", r.Method, r.URL.Path, r.Proto)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(body)
}

func (b *backend) seen(path string) (seen, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.requests[path]
	return s, ok
}

func (b *backend) odditiesSoFar() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.oddities...)
}

// selfSigned returns a certificate for 127.0.0.1 and its key as one PEM
// file's contents (as HAProxy's crt wants), and a pool that trusts it.
func selfSigned(t *testing.T) ([]byte, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	combined := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	combined = append(combined, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})...)
	return combined, pool
}

// The frontends, in the order of their inherited listening sockets
// (fd@3, fd@4, fd@5).
const haproxyConfig = `global
	log stdout format raw local0 info
	maxconn 256

defaults
	mode http
	log global
	option httplog
	timeout connect 5s
	timeout client 30s
	timeout server 30s
	timeout http-request 10s

frontend h1
	bind fd@3
	default_backend h2server

frontend h2c
	bind fd@4 proto h2
	default_backend h2server

frontend tls
	bind fd@5 ssl crt %s alpn h2,http/1.1
	default_backend h2server

backend h2server
	server s1 %s proto h2
`

// startHAProxy runs haproxy in the foreground (-db) in front of
// backendAddr and returns the frontends' addresses: h1 (HTTP/1.1
// cleartext), h2c (HTTP/2 prior knowledge) and tls (ALPN h2 and
// http/1.1). The test makes the listening sockets and haproxy inherits
// them, so there is no port to guess and none to race for; haproxy is
// ready once a request through it comes back. It is killed when the test
// ends.
func startHAProxy(t *testing.T, bin, backendAddr string, pemFile []byte) (h1, h2c, tlsAddr string, out *syncBuffer) {
	dir := t.TempDir()
	crt := filepath.Join(dir, "combined.pem")
	if err := os.WriteFile(crt, pemFile, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, haproxyConfig, crt, backendAddr), 0o600); err != nil {
		t.Fatal(err)
	}

	var addrs []string
	var files []*os.File
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := ln.(*net.TCPListener).File() // a dup, which haproxy inherits
		ln.Close()                             // the dup keeps the socket listening
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		files = append(files, f)
	}

	out = new(syncBuffer)
	cmd := exec.Command(bin, "-db", "-f", cfg)
	cmd.ExtraFiles = files
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
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
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() || testing.Verbose() {
			t.Logf("haproxy output:\n%s", out.String())
		}
	})

	// Ready when a request goes through it to the backend and back.
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(waitLimit)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("haproxy exited at start (%v):\n%s", err, out.String())
		default:
		}
		resp, err := c.Get("http://" + addrs[0] + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy not ready after %v: %v\n%s", waitLimit, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.CloseIdleConnections()
	return addrs[0], addrs[1], addrs[2], out
}

// TestHAProxy sends GETs and POST bodies of a few hundred KiB, more than
// a stream's flow-control window (256 KiB), through each of HAProxy's
// frontends, and checks that each request reached h2server over HTTP/2
// with its body intact (the backend's hash), and that each response came
// back intact (the client's hash).
func TestHAProxy(t *testing.T) {
	bin := haproxyBin(t)
	if out, err := exec.Command(bin, "-v").Output(); err == nil {
		t.Logf("%s", bytes.SplitN(out, []byte("\n"), 2)[0])
	}
	b := startBackend(t)
	pemFile, pool := selfSigned(t)
	h1, h2c, tlsAddr, _ := startHAProxy(t, bin, b.addr, pemFile)

	client := func(tlsCfg *tls.Config, set func(*http.Protocols)) *http.Client {
		var p http.Protocols
		set(&p)
		return &http.Client{
			Transport: &http.Transport{Protocols: &p, TLSClientConfig: tlsCfg.Clone()},
			Timeout:   waitLimit,
		}
	}
	tlsCfg := &tls.Config{RootCAs: pool}
	cases := []struct {
		name       string
		url        string
		c          *http.Client
		protoMajor int // the client's side of HAProxy
	}{
		{"h1", "http://" + h1, client(nil, func(p *http.Protocols) { p.SetHTTP1(true) }), 1},
		{"h2c", "http://" + h2c, client(nil, func(p *http.Protocols) { p.SetUnencryptedHTTP2(true) }), 2},
		{"tls-h2", "https://" + tlsAddr, client(tlsCfg, func(p *http.Protocols) { p.SetHTTP2(true) }), 2},
		{"tls-h1", "https://" + tlsAddr, client(tlsCfg, func(p *http.Protocols) { p.SetHTTP1(true) }), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.c.CloseIdleConnections()
			check := func(resp *http.Response, path string, sent []byte) {
				t.Helper()
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Errorf("%s: reading the response: %v", path, err)
					return
				}
				if resp.StatusCode != http.StatusOK || resp.ProtoMajor != tc.protoMajor {
					t.Errorf("%s: %s over %s, want 200 over HTTP/%d", path, resp.Status, resp.Proto, tc.protoMajor)
				}
				s, ok := b.seen(path)
				if !ok {
					t.Errorf("%s: the backend did not see it", path)
					return
				}
				if s.protoMajor != 2 || s.proto != "HTTP/2.0" || resp.Header.Get("X-Proto") != "HTTP/2.0" {
					t.Errorf("%s reached h2server over %q (%d), want HTTP/2.0", path, s.proto, s.protoMajor)
				}
				if sent == nil {
					if want := "hello, world\nGET " + path + " HTTP/2.0\n"; string(got) != want {
						t.Errorf("%s: body %q, want %q", path, got, want)
					}
					return
				}
				sum := sha256.Sum256(sent)
				want := hex.EncodeToString(sum[:])
				if s.bodyLen != len(sent) || s.bodySum != want {
					t.Errorf("%s: the backend received %d bytes (sha256 %.12s), want the %d sent (%.12s)", path, s.bodyLen, s.bodySum, len(sent), want)
				}
				if gotSum := sha256.Sum256(got); len(got) != len(sent) || gotSum != sum {
					t.Errorf("%s: the response has %d bytes (sha256 %.12x), want the %d sent back (%.12s)", path, len(got), gotSum, len(sent), want)
				}
			}

			path := "/" + tc.name + "/get"
			resp, err := tc.c.Get(tc.url + path)
			if err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
			check(resp, path, nil)

			// POSTs at once (over HTTP/2, streams of one connection), with
			// and without a Content-Length (chunked, for HTTP/1.1).
			sizes := []int{300<<10 + 1, 512 << 10, 384<<10 + 7}
			var wg sync.WaitGroup
			for i, size := range sizes {
				body := make([]byte, size)
				rng := mrand.NewChaCha8([32]byte{byte(i), byte(len(tc.name))})
				rng.Read(body)
				path := fmt.Sprintf("/%s/post/%d", tc.name, i)
				var r io.Reader = bytes.NewReader(body)
				if i%2 == 1 {
					r = io.MultiReader(r) // unknown length
				}
				wg.Go(func() {
					req, err := http.NewRequest(http.MethodPost, tc.url+path, r)
					if err != nil {
						t.Error(err)
						return
					}
					req.Header.Set("Content-Type", "application/octet-stream")
					resp, err := tc.c.Do(req)
					if err != nil {
						t.Errorf("POST %s: %v", path, err)
						return
					}
					check(resp, path, body)
				})
			}
			wg.Wait()
		})
	}

	// A graceful shutdown with HAProxy's connections still open: GOAWAY
	// to each, which HAProxy must take as "close when done". Shutdown
	// returns once every connection is gone, so the stream hooks below
	// have all run.
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	t0 := time.Now()
	open := b.conns.Load() - b.closed.Load()
	if err := b.srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown with HAProxy connected: %v", err)
	}
	t.Logf("haproxy opened %d HTTP/2 connections to h2server; Shutdown of the %d still open took %v", b.conns.Load(), open, time.Since(t0).Round(time.Millisecond))
	// HAProxy is a well-behaved peer: a rejection or a stream that ended
	// in error is a bug on one side or the other.
	if odd := b.odditiesSoFar(); len(odd) > 0 {
		t.Errorf("h2server saw from HAProxy:\n  %s", strings.Join(odd, "\n  "))
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("h2server log:\n%s", b.log.String())
	}
}
