// Command websocket serves an echo and broadcast page whose WebSocket
// runs over HTTP/2, on the connection that served the page: the server
// turns on extended CONNECT (Server.EnableConnectProtocol, RFC 8441), so
// the browser opens its WebSocket as a CONNECT stream with :protocol
// "websocket" instead of a new HTTP/1.1 connection. Every message is
// echoed to its sender; a text message that starts with "broadcast:" goes
// to every open WebSocket instead.
//
//	go run ./examples/websocket    # open https://127.0.0.1:8443/ (self-signed: accept the warning)
//
// The handler is a plain net/http Handler run by h2server.HTTPHandler. It
// finds the WebSocket the way net/http presents an extended CONNECT
// (Method CONNECT, r.Header[":protocol"] == "websocket"), answers 200,
// flushes, and from then on r.Body and the ResponseWriter are the two
// directions of the WebSocket's byte stream. github.com/gobwas/ws does
// the RFC 6455 framing over them: it works on any io.Reader and
// io.Writer, where libraries that upgrade through http.Hijacker cannot
// serve HTTP/2.
//
// The page runs a self-test when its URL has ?n=COUNT: it sends COUNT
// messages of assorted sizes (up to 1 MiB), checks every echo, checks a
// broadcast comes back, and POSTs the result to /result. main_test.go
// drives it in headless Chromium.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/h2server/h2server"
	"github.com/h2server/h2server/examples/internal/excert"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8443", "TCP `host:port` to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		slog.Error("websocket: listen failed", "err", err)
		os.Exit(1)
	}
	cfg, err := excert.TLSConfig()
	if err != nil {
		slog.Error("websocket: making a certificate failed", "err", err)
		os.Exit(1)
	}
	fmt.Printf("websocket: open https://%s/ in a browser (self-signed certificate)\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, tls.NewListener(ln, cfg), newApp(slog.Default())); err != nil {
		slog.Error("websocket failed", "err", err)
		os.Exit(1)
	}
}

// run serves a on ln until ctx ends, then shuts down: GOAWAY, and open
// WebSockets get the grace to finish before their contexts end.
func run(ctx context.Context, ln net.Listener, a *app) error {
	srv := &h2server.Server{
		Handler: h2server.HTTPHandler(a.handler()),
		// Our handler answers extended CONNECT: browsers may take the
		// setting as the promise it is.
		EnableConnectProtocol: true,
		Logger:                a.log,
		Hooks:                 a.hooks,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	a.hub.closeAll() // ask open WebSockets to close (status 1001)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, h2server.ErrServerClosed) {
		return err
	}
	return nil
}

// app is the server's state: the open WebSockets and what it saw.
type app struct {
	log     *slog.Logger
	hub     hub
	results chan json.RawMessage // the page's reports (POST /result)
	hooks   *h2server.Hooks      // for the Server, if set (tests)

	mu       sync.Mutex
	requests []requestRecord // guarded by mu
}

// requestRecord is what the server saw of one request: enough to tell a
// WebSocket over HTTP/2 (extended CONNECT on an h2 connection) and which
// connection carried it.
type requestRecord struct {
	Method, Path, Proto, Protocol string
	ConnID                        uint64
	Messages                      int // WebSocket messages received
}

func newApp(log *slog.Logger) *app {
	return &app{log: log, results: make(chan json.RawMessage, 1), hub: hub{conns: make(map[*wsConn]struct{})}}
}

func (a *app) record(r *http.Request, w http.ResponseWriter) int {
	rec := requestRecord{Method: r.Method, Path: r.URL.Path, Proto: r.Proto, Protocol: r.Header.Get(":protocol")}
	if st, ok := h2server.StreamOf(w); ok {
		rec.ConnID = st.Conn().ID
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests = append(a.requests, rec)
	return len(a.requests) - 1
}

func (a *app) snapshot() []requestRecord {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]requestRecord(nil), a.requests...)
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		a.record(r, w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	})
	// A pattern without a method: CONNECT must reach it.
	mux.HandleFunc("/ws", a.serveWebSocket)
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil || !json.Valid(b) {
			http.Error(w, "want a JSON report", http.StatusBadRequest)
			return
		}
		a.log.Info("page report", "result", string(b))
		select {
		case a.results <- b:
		default:
		}
	})
	return mux
}

// maxMessageSize bounds one WebSocket message (RFC 6455 section 10.4):
// messages are read whole into memory.
const maxMessageSize = 2 << 20

// serveWebSocket accepts a WebSocket over HTTP/2 (RFC 8441 section 5).
func (a *app) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	idx := a.record(r, w)
	if r.Method != http.MethodConnect || r.Header.Get(":protocol") != "websocket" {
		// An HTTP/1.1 Upgrade would need Hijack, which HTTP/2 has not.
		http.Error(w, "WebSockets here run over HTTP/2 (RFC 8441 extended CONNECT)", http.StatusBadRequest)
		return
	}
	// RFC 8441 section 5: the version is checked as in RFC 6455; there
	// is no Sec-WebSocket-Key nor Accept. No extension is taken up
	// (permessage-deflate is offered by browsers), and no subprotocol.
	if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r.Host) {
		// Browsers send Origin with every WebSocket: a page of another
		// site must not reach this one's WebSocket with the user's
		// cookies (cross-site WebSocket hijacking). Non-browser clients
		// send none.
		http.Error(w, "cross-origin WebSocket refused", http.StatusForbidden)
		return
	}
	if r.Header.Get("Sec-Websocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "unsupported WebSocket version", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	c := &wsConn{w: w, rc: rc, out: make(chan frame, 64), done: make(chan struct{})}
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	a.hub.add(c)
	// Counted as each message arrives, before its echo goes out: what a
	// client saw answered, the record already has.
	counted := func() {
		a.mu.Lock()
		a.requests[idx].Messages++
		a.mu.Unlock()
	}
	n, err := c.readLoop(r.Body, &a.hub, counted)
	a.hub.remove(c)
	close(c.done)
	<-writerDone // nothing writes to w after we return
	if _, closed := errors.AsType[wsutil.ClosedError](err); err != nil && !closed && !errors.Is(err, io.EOF) {
		a.log.Info("websocket ended", "err", err, "messages", n)
	}
}

// sameOrigin reports whether origin (scheme://host[:port]) names host,
// the request's authority.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Scheme == "https" && strings.EqualFold(u.Host, host)
}

// frame is one WebSocket frame for the writer: a message, or bytes
// already framed (control replies).
type frame struct {
	op  ws.OpCode
	p   []byte
	raw bool
}

// wsConn is one WebSocket: the handler's goroutine reads, a writer
// goroutine owns the ResponseWriter from the 200 on, so echoes, control
// replies and broadcasts never interleave inside a frame.
type wsConn struct {
	w    http.ResponseWriter // the writer goroutine's
	rc   *http.ResponseController
	out  chan frame
	done chan struct{} // closed when the reader ends: the writer stops
}

// send queues a frame; it waits for room (backpressure to the sender's
// reader) unless the connection ended.
func (c *wsConn) send(f frame) bool {
	select {
	case c.out <- f:
		return true
	case <-c.done:
		return false
	}
}

func (c *wsConn) writeLoop() {
	for {
		var f frame
		select {
		case f = <-c.out:
		case <-c.done:
			// Drain what the reader queued before it ended (a close
			// reply), then stop.
			select {
			case f = <-c.out:
			default:
				return
			}
		}
		var err error
		if f.raw {
			_, err = c.w.Write(f.p)
		} else {
			err = wsutil.WriteServerMessage(c.w, f.op, f.p)
		}
		if err == nil {
			err = c.rc.Flush()
		}
		if err != nil {
			// The stream is gone; the reader will see it too.
			for {
				select {
				case <-c.out:
				case <-c.done:
					return
				}
			}
		}
	}
}

// readLoop reads messages until the client closes the WebSocket or the
// stream ends, echoing each (or broadcasting it) after counted; it
// returns how many data messages it read.
func (c *wsConn) readLoop(body io.Reader, h *hub, counted func()) (int, error) {
	var replies bytes.Buffer
	control := wsutil.ControlFrameHandler(&replies, ws.StateServerSide)
	handle := func(hdr ws.Header, r io.Reader) error {
		err := control(hdr, r)
		if replies.Len() > 0 {
			c.send(frame{p: bytes.Clone(replies.Bytes()), raw: true})
			replies.Reset()
		}
		return err
	}
	rd := &wsutil.Reader{Source: body, State: ws.StateServerSide, CheckUTF8: true,
		MaxMessageSize: maxMessageSize, OnIntermediate: handle}
	n := 0
	for {
		hdr, err := rd.NextFrame()
		if err != nil {
			return n, err
		}
		if hdr.OpCode.IsControl() {
			if err := handle(hdr, rd); err != nil {
				return n, err // a close handshake (wsutil.ClosedError) ends here
			}
			continue
		}
		var msg bytes.Buffer
		if _, err := msg.ReadFrom(rd); err != nil {
			return n, err
		}
		n++
		counted()
		p := msg.Bytes()
		if hdr.OpCode == ws.OpText && bytes.HasPrefix(p, []byte("broadcast:")) {
			h.broadcast(p)
			continue
		}
		if !c.send(frame{op: hdr.OpCode, p: p}) {
			return n, io.EOF
		}
	}
}

// hub is the set of open WebSockets, for broadcasts.
type hub struct {
	mu    sync.Mutex
	conns map[*wsConn]struct{} // guarded by mu
}

func (h *hub) add(c *wsConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.conns[c] = struct{}{}
}

func (h *hub) remove(c *wsConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns, c)
}

// broadcast sends a text message to every open WebSocket. A client whose
// queue is full misses it rather than holding up the others.
func (h *hub) broadcast(p []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		select {
		case c.out <- frame{op: ws.OpText, p: p}:
		default:
		}
	}
}

// closeAll starts the close handshake on every open WebSocket (1001,
// going away), for a graceful shutdown.
func (h *hub) closeAll() {
	f := ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusGoingAway, "server shutting down"))
	var b bytes.Buffer
	ws.WriteFrame(&b, f)
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		select {
		case c.out <- frame{p: b.Bytes(), raw: true}:
		default:
		}
	}
}

const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>h2server WebSocket over HTTP/2</title></head>
<body>
<h1>WebSocket over HTTP/2</h1>
<p>Messages are echoed; one that starts with <code>broadcast:</code> goes to every open page.</p>
<form id="f"><input id="msg" size="40" value="hello"> <button>send</button>
<button type="button" id="bc">broadcast</button></form>
<pre id="log"></pre>
<script>
"use strict";
const log = (s) => { document.getElementById("log").textContent += s + "\n"; };
const nav = performance.getEntriesByType("navigation")[0];
log("page loaded over " + (nav ? nav.nextHopProtocol : "?"));

// open returns a WebSocket and a function that awaits its next message.
function open() {
  const ws = new WebSocket("wss://" + location.host + "/ws");
  ws.binaryType = "arraybuffer";
  const queue = [], waiters = [];
  ws.onmessage = (e) => { const w = waiters.shift(); if (w) w.resolve(e.data); else queue.push(e.data); };
  ws.onclose = (e) => { log("closed: " + e.code + " " + e.reason); for (const w of waiters.splice(0)) w.reject(new Error("closed " + e.code)); };
  const next = () => queue.length ? Promise.resolve(queue.shift()) : new Promise((resolve, reject) => waiters.push({resolve, reject}));
  const ready = new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error("WebSocket error")); });
  return {ws, next, ready};
}

// Deterministic sizes: the framing edges (125/126, 65535/65536), then a
// mix of small, medium and 1 MiB messages.
let seed = 12345;
const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
const edges = [0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20, (1 << 20) - 1];
function sizeFor(i) {
  if (i < edges.length) return edges[i];
  if (i % 100 === 0) return 1 << 20;
  if (i % 10 === 0) return rand(256 << 10);
  return rand(16 << 10);
}
function makeMessage(i) {
  const n = sizeFor(i);
  if (i % 4 === 0) {
    const letters = "abcdefghijklmnopqrstuvwxyz0123456789 ";
    const chars = [];
    for (let k = 0; k < n; k++) chars.push(letters[rand(letters.length)]);
    return chars.join("");
  }
  const b = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) crypto.getRandomValues(b.subarray(off, Math.min(n, off + 65536)));
  return b.buffer;
}
function same(a, b) {
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a), y = new Uint8Array(b);
  for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) return false;
  return true;
}

async function selfTest(count) {
  const res = {messages: 0, bytes: 0, pageProtocol: nav ? nav.nextHopProtocol : "", error: ""};
  const t0 = performance.now();
  try {
    const c = open();
    await c.ready;
    for (let i = 0; i < count; i++) {
      const m = makeMessage(i);
      c.ws.send(m);
      const got = await c.next();
      if (!same(m, got)) throw new Error("message " + i + " (" + sizeFor(i) + " bytes) came back different");
      res.messages++;
      res.bytes += typeof m === "string" ? m.length : m.byteLength;
    }
    c.ws.send("broadcast:hello from the page");
    const b = await c.next();
    if (b !== "broadcast:hello from the page") throw new Error("broadcast came back as " + b);
    res.broadcast = true;
    const closed = new Promise((resolve) => c.ws.addEventListener("close", (e) => resolve(e.code)));
    c.ws.close(1000, "done");
    res.closeCode = await closed;
  } catch (e) {
    res.error = String(e);
  }
  res.ms = Math.round(performance.now() - t0);
  log(JSON.stringify(res));
  await fetch("/result", {method: "POST", body: JSON.stringify(res)});
}

const count = +(new URLSearchParams(location.search).get("n") || 0);
if (count > 0) {
  selfTest(count);
} else {
  const c = open();
  c.ready.then(() => log("WebSocket open"), (e) => log(String(e)));
  c.ws.onmessage = (e) => log("< " + (typeof e.data === "string" ? e.data : e.data.byteLength + " bytes"));
  document.getElementById("f").onsubmit = (e) => { e.preventDefault(); c.ws.send(document.getElementById("msg").value); };
  document.getElementById("bc").onclick = () => c.ws.send("broadcast:" + document.getElementById("msg").value);
}
</script>
</body></html>
`
