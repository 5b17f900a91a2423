package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/h2server/h2server"
	"github.com/h2server/h2server/examples/internal/excert"
	"github.com/h2server/h2server/examples/internal/headless"
	"github.com/h2server/h2server/examples/internal/syncbuf"
	"golang.org/x/net/http2"
)

// rejections records what h2server rejected: from well-behaved peers,
// nothing.
type rejections struct {
	mu   sync.Mutex
	list []string
}

func (r *rejections) hooks() *h2server.Hooks {
	return &h2server.Hooks{Rejected: func(x *h2server.Rejection) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.list = append(r.list, fmt.Sprintf("stream %d: %v %s", x.StreamID, x.Code, x.Reason))
	}}
}

func (r *rejections) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.list, "; ")
}

// startApp serves the example over TLS on 127.0.0.1 and returns its
// address; the server shuts down gracefully at the end of the test.
func startApp(t *testing.T) (*app, string, *rejections) {
	t.Helper()
	var serverLog syncbuf.Buffer
	a := newApp(slog.New(slog.NewTextHandler(&serverLog, nil)))
	rej := &rejections{}
	a.hooks = rej.hooks()
	cfg, err := excert.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- run(ctx, tls.NewListener(ln, cfg), a) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("run: %v", err)
		}
		if t.Failed() || testing.Verbose() {
			t.Logf("server log:\n%s", serverLog.String())
		}
	})
	return a, ln.Addr().String(), rej
}

// messageSize is the size of message i: the framing edges (125/126,
// 65535/65536 bytes), then a mix of small, medium and 1 MiB messages, as
// the page sends.
func messageSize(i int, r *rand.Rand) int {
	edges := []int{0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20, 1<<20 - 1}
	switch {
	case i < len(edges):
		return edges[i]
	case i%100 == 0:
		return 1 << 20
	case i%10 == 0:
		return r.IntN(256 << 10)
	}
	return r.IntN(16 << 10)
}

// goWebSocket is a WebSocket opened by Go's HTTP/2 client with extended
// CONNECT: the response body reads the server's frames, the pipe writes
// ours.
type goWebSocket struct {
	resp *http.Response
	w    *io.PipeWriter
}

func (c *goWebSocket) Read(p []byte) (int, error)  { return c.resp.Body.Read(p) }
func (c *goWebSocket) Write(p []byte) (int, error) { return c.w.Write(p) }

func dialWebSocket(t *testing.T, cc *http2.ClientConn, host string) *goWebSocket {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodConnect, "https://"+host+"/ws", pr)
	if err != nil {
		t.Fatal(err)
	}
	// x/net's client sends an extended CONNECT (:protocol, :scheme,
	// :path) when the request has a ":protocol" header, once the server
	// advertised SETTINGS_ENABLE_CONNECT_PROTOCOL.
	req.Header.Set(":protocol", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatalf("extended CONNECT: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("extended CONNECT: %s", resp.Status)
	}
	return &goWebSocket{resp, pw}
}

// wantServerSaw checks the server's records: GET / and the WebSocket's
// extended CONNECT, both HTTP/2, on one connection, the WebSocket having
// read messages data messages.
func wantServerSaw(t *testing.T, a *app, messages int) {
	t.Helper()
	var page, sock *requestRecord
	recs := a.snapshot()
	for i := range recs {
		switch r := &recs[i]; r.Path {
		case "/":
			page = r
		case "/ws":
			if sock == nil {
				sock = r // the first WebSocket: the one that sent the messages
			}
		}
	}
	t.Logf("server saw: %+v", recs)
	if page == nil || sock == nil {
		t.Fatalf("server saw %+v, want GET / and the WebSocket", recs)
	}
	if page.Proto != "HTTP/2.0" || page.Method != "GET" {
		t.Errorf("page: %+v, want GET over HTTP/2", *page)
	}
	if sock.Method != "CONNECT" || sock.Protocol != "websocket" || sock.Proto != "HTTP/2.0" {
		t.Errorf("WebSocket: %+v, want an extended CONNECT (:protocol websocket) over HTTP/2", *sock)
	}
	if sock.ConnID == 0 || sock.ConnID != page.ConnID {
		t.Errorf("WebSocket on connection %d, page on %d: want the page's connection", sock.ConnID, page.ConnID)
	}
	if sock.Messages != messages {
		t.Errorf("the server read %d messages on the WebSocket, want %d", sock.Messages, messages)
	}
}

// TestGoClient: Go's HTTP/2 client fetches the page, then opens a
// WebSocket on the same connection with extended CONNECT, exchanges 1,000
// messages of assorted sizes up to 1 MiB, sees a broadcast reach a second
// WebSocket too, and closes with the close handshake.
func TestGoClient(t *testing.T) {
	const count = 1000
	a, addr, rej := startApp(t)
	tc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := (&http2.Transport{}).NewClientConn(tc)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
	resp, err := cc.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(page, []byte("new WebSocket(")) {
		t.Fatalf("GET /: %s %.80q", resp.Status, page)
	}

	c := dialWebSocket(t, cc, addr)
	r := rand.New(rand.NewPCG(1, 2))
	src := rand.NewChaCha8([32]byte{1})
	start := time.Now()
	total := 0
	for i := range count {
		op := ws.OpBinary
		msg := make([]byte, messageSize(i, r))
		src.Read(msg)
		if i%4 == 0 {
			op = ws.OpText
			for k, b := range msg {
				msg[k] = 'a' + b%26
			}
		}
		if err := wsutil.WriteClientMessage(c, op, msg); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		got, gotOp, err := wsutil.ReadServerData(c)
		if err != nil {
			t.Fatalf("message %d: reading the echo: %v", i, err)
		}
		if gotOp != op || !bytes.Equal(got, msg) {
			t.Fatalf("message %d (%d bytes, %v) came back as %d bytes, %v", i, len(msg), op, len(got), gotOp)
		}
		total += len(msg)
	}
	d := time.Since(start)
	t.Logf("%d messages, %d bytes each way, in %v (%.1f MiB/s each way)", count, total, d.Round(time.Millisecond), float64(total)/(1<<20)/d.Seconds())

	// A broadcast reaches every open WebSocket: a second one on the same
	// connection, and the sender.
	other := dialWebSocket(t, cc, addr)
	if err := wsutil.WriteClientText(other, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if got, err := wsutil.ReadServerText(other); err != nil || string(got) != "hello" {
		t.Fatalf("second WebSocket echo: %q, %v", got, err)
	}
	if err := wsutil.WriteClientText(c, []byte("broadcast:to all")); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*goWebSocket{"sender": c, "other": other} {
		if got, err := wsutil.ReadServerText(s); err != nil || string(got) != "broadcast:to all" {
			t.Errorf("%s got %q, %v; want the broadcast", name, got, err)
		}
	}

	// The close handshake (RFC 6455 section 7), then END_STREAM both ways.
	for _, s := range []*goWebSocket{c, other} {
		body := ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye")
		if err := wsutil.WriteClientMessage(s, ws.OpClose, body); err != nil {
			t.Fatal(err)
		}
		// The server's close frame answers ours: read it as a frame
		// (wsutil's reader would answer it again).
		f, err := ws.ReadFrame(s)
		if err == nil && f.Header.OpCode == ws.OpClose {
			code, _ := ws.ParseCloseFrameData(f.Payload)
			if code != ws.StatusNormalClosure {
				t.Errorf("the server closed with %d, want 1000", code)
			}
		} else {
			t.Errorf("after our close frame: %v %v, want the server's close frame", f.Header.OpCode, err)
		}
		s.w.Close()
		if b, err := io.ReadAll(s.resp.Body); err != nil || len(b) != 0 {
			t.Errorf("after the close handshake: %q, %v; want END_STREAM", b, err)
		}
	}
	wantServerSaw(t, a, count+1)
	if s := rej.String(); s != "" {
		t.Errorf("h2server rejected: %s", s)
	}
}

// pageResult is the page's self-test report (see the page's selfTest).
type pageResult struct {
	Messages     int    `json:"messages"`
	Bytes        int    `json:"bytes"`
	PageProtocol string `json:"pageProtocol"`
	Broadcast    bool   `json:"broadcast"`
	CloseCode    int    `json:"closeCode"`
	Error        string `json:"error"`
	MS           int    `json:"ms"`
}

// TestChromium loads the page in headless Chromium with ?n=1000: the
// page opens its WebSocket (which Chromium runs over the page's HTTP/2
// connection, since the server advertised extended CONNECT), exchanges
// 1,000 messages of assorted sizes up to 1 MiB, checks a broadcast and
// closes; the server's records prove the WebSocket was an extended
// CONNECT on the connection that served the page.
func TestChromium(t *testing.T) {
	const count = 1000
	bin := headless.Chromium(t)
	a, addr, rej := startApp(t)
	start := time.Now()
	b := headless.Start(t, bin, fmt.Sprintf("https://%s/?n=%d", addr, count))

	var raw json.RawMessage
	select {
	case raw = <-a.results:
	case <-b.Exited:
		t.Fatalf("chromium exited (%v) before the page reported\nchromium output (end):\n%s", b.Err(), b.Log())
	case <-time.After(3 * time.Minute):
		t.Fatalf("no report from the page within 3 minutes\nchromium output (end):\n%s", b.Log())
	}
	var res pageResult
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("page report %s: %v", raw, err)
	}
	t.Logf("page: %s (reported %.1fs after chromium started)", raw, time.Since(start).Seconds())
	if res.Error != "" {
		t.Fatalf("the page's self-test failed: %s", res.Error)
	}
	if res.Messages != count || !res.Broadcast || res.CloseCode != 1000 {
		t.Errorf("page: %+v, want %d messages echoed, the broadcast, and close code 1000", res, count)
	}
	if res.PageProtocol != "h2" {
		t.Errorf("page loaded over %q, want h2", res.PageProtocol)
	}
	if res.MS > 0 {
		t.Logf("Chromium: %d messages, %d bytes each way in %d ms (%.1f MiB/s each way)",
			res.Messages, res.Bytes, res.MS, float64(res.Bytes)/(1<<20)/(float64(res.MS)/1000))
	}
	wantServerSaw(t, a, count+1)
	if s := rej.String(); s != "" {
		t.Errorf("h2server rejected: %s", s)
	}
}

// TestRefusals: a WebSocket from another site's page (its Origin) is
// refused, and so is a request to /ws that is not an extended CONNECT.
func TestRefusals(t *testing.T) {
	_, addr, _ := startApp(t)
	tc, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := (&http2.Transport{}).NewClientConn(tc)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for _, tc := range []struct {
		name, method, origin string
		want                 int
	}{
		{"cross_origin", http.MethodConnect, "https://evil.example", http.StatusForbidden},
		{"same_origin", http.MethodConnect, "https://" + addr, http.StatusOK},
		{"get", http.MethodGet, "", http.StatusBadRequest},
	} {
		pr, pw := io.Pipe()
		req, _ := http.NewRequest(tc.method, "https://"+addr+"/ws", pr)
		if tc.method == http.MethodConnect {
			req.Header.Set(":protocol", "websocket")
		}
		req.Header.Set("Sec-WebSocket-Version", "13")
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := cc.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s, want %d", tc.name, resp.Status, tc.want)
		}
		pw.Close()
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
