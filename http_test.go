package h2server

// Tests of the net/http adapter (http.go): real net/http handlers that no
// one here wrote (http.FileServer, httputil.ReverseProxy, http.ServeMux)
// served through HTTPHandler, driven by Go's HTTP/2 client over h2c.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// adapterWait bounds every wait of these tests: a guard against a hang,
// never a way to let something happen.
const adapterWait = 20 * time.Second

// adapterEnv is an HTTPHandler served on a loopback port, and an h2c
// client for it.
type adapterEnv struct {
	srv    *Server
	addr   string // host:port
	url    string // http://host:port, no trailing slash
	tr     *http2.Transport
	client *http.Client
	logs   *logBuffer
}

// h2cTransport is Go's HTTP/2 client speaking h2c with prior knowledge.
func h2cTransport() *http2.Transport {
	return &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// startAdapter serves h through HTTPHandler on 127.0.0.1:0 (over TLS
// with ALPN h2 when tlsConfig is set). Cleanup closes the client's idle
// connections, shuts the server down and checks for leaked goroutines.
func startAdapter(t *testing.T, h http.Handler, tlsConfig ...*tls.Config) *adapterEnv {
	t.Helper()
	t.Cleanup(checkNoLeaks(t)) // registered first, so it runs last
	logs := &logBuffer{}
	e := &adapterEnv{
		srv:  &Server{Handler: HTTPHandler(h), Logger: slog.New(slog.NewTextHandler(logs, nil))},
		tr:   h2cTransport(),
		logs: logs,
	}
	e.client = &http.Client{Transport: e.tr}
	var ln net.Listener
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	e.url = "http://" + e.addr
	if len(tlsConfig) > 0 {
		ln = tls.NewListener(ln, tlsConfig[0])
		e.url = "https://" + e.addr
		e.tr = &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: testCertPoolOnly()}}
		e.client = &http.Client{Transport: e.tr}
	}
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		e.tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), adapterWait)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return e
}

func (e *adapterEnv) do(t *testing.T, method, path string, body io.Reader, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// get does a request and returns the response with its body read.
func (e *adapterEnv) get(t *testing.T, method, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	resp := e.do(t, method, path, nil, hdr...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, string(b)
}

// recv waits for a value from ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(adapterWait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func wantHeader(t *testing.T, resp *http.Response, key, want string) {
	t.Helper()
	if got := resp.Header.Get(key); got != want {
		t.Errorf("%s = %q, want %q (header %v)", key, got, want, resp.Header)
	}
}

func TestHTTPAdapterFileServer(t *testing.T) {
	dir := t.TempDir()
	const text = "0123456789abcdefghij"
	big := bytes.Repeat([]byte("h2server file server "), 10000) // ~210 KB: many DATA frames
	files := map[string][]byte{"hello.txt": []byte(text), "big.bin": big, "sub/inner.txt": []byte("inner")}
	modTime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, modTime, modTime); err != nil {
			t.Fatal(err)
		}
	}
	e := startAdapter(t, http.FileServer(http.Dir(dir)))

	t.Run("Get", func(t *testing.T) {
		resp, body := e.get(t, "GET", "/hello.txt")
		if resp.StatusCode != 200 || body != text || resp.ProtoMajor != 2 {
			t.Fatalf("got %d %s %q, want 200 HTTP/2.0 %q", resp.StatusCode, resp.Proto, body, text)
		}
		wantHeader(t, resp, "Content-Type", "text/plain; charset=utf-8")
		wantHeader(t, resp, "Content-Length", strconv.Itoa(len(text)))
		wantHeader(t, resp, "Last-Modified", modTime.Format(http.TimeFormat))
		wantHeader(t, resp, "Accept-Ranges", "bytes")
	})
	t.Run("Big", func(t *testing.T) {
		resp, body := e.get(t, "GET", "/big.bin")
		if resp.StatusCode != 200 || body != string(big) {
			t.Fatalf("got %d with %d bytes, want 200 with the %d-byte file", resp.StatusCode, len(body), len(big))
		}
		wantHeader(t, resp, "Content-Length", strconv.Itoa(len(big)))
	})
	t.Run("Head", func(t *testing.T) {
		resp, body := e.get(t, "HEAD", "/hello.txt")
		if resp.StatusCode != 200 || body != "" {
			t.Fatalf("got %d %q, want 200 and no body", resp.StatusCode, body)
		}
		wantHeader(t, resp, "Content-Length", strconv.Itoa(len(text)))
	})
	t.Run("Range", func(t *testing.T) {
		resp, body := e.get(t, "GET", "/hello.txt", "Range", "bytes=3-7")
		if resp.StatusCode != http.StatusPartialContent || body != text[3:8] {
			t.Fatalf("got %d %q, want 206 %q", resp.StatusCode, body, text[3:8])
		}
		wantHeader(t, resp, "Content-Range", fmt.Sprintf("bytes 3-7/%d", len(text)))
		wantHeader(t, resp, "Content-Length", "5")
	})
	t.Run("MultiRange", func(t *testing.T) {
		resp, body := e.get(t, "GET", "/hello.txt", "Range", "bytes=0-1,10-12")
		if resp.StatusCode != http.StatusPartialContent {
			t.Fatalf("status %d, want 206", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/byteranges; boundary=") {
			t.Fatalf("Content-Type %q, want multipart/byteranges", ct)
		}
		if !strings.Contains(body, "\r\n\r\n01\r\n") || !strings.Contains(body, "\r\n\r\nabc\r\n") {
			t.Fatalf("multipart body lacks the ranges: %q", body)
		}
	})
	t.Run("IfModifiedSince", func(t *testing.T) {
		resp, body := e.get(t, "GET", "/hello.txt", "If-Modified-Since", modTime.Format(http.TimeFormat))
		if resp.StatusCode != http.StatusNotModified || body != "" {
			t.Fatalf("got %d %q, want 304 and no body", resp.StatusCode, body)
		}
		if _, ok := resp.Header["Content-Length"]; ok {
			t.Errorf("304 carries Content-Length %q", resp.Header.Get("Content-Length"))
		}
		resp, body = e.get(t, "GET", "/hello.txt", "If-Modified-Since", modTime.Add(-time.Hour).Format(http.TimeFormat))
		if resp.StatusCode != 200 || body != text {
			t.Fatalf("modified since: got %d %q, want 200 with the file", resp.StatusCode, body)
		}
	})
	t.Run("DirectoryListing", func(t *testing.T) {
		resp, body := e.get(t, "GET", "/")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
		wantHeader(t, resp, "Content-Type", "text/html; charset=utf-8")
		for _, want := range []string{`<a href="hello.txt">hello.txt</a>`, `<a href="sub/">sub/</a>`, `<a href="big.bin">`} {
			if !strings.Contains(body, want) {
				t.Errorf("listing lacks %s:\n%s", want, body)
			}
		}
		// A directory without its slash redirects (the client follows).
		resp, body = e.get(t, "GET", "/sub")
		if resp.StatusCode != 200 || !strings.Contains(body, `<a href="inner.txt">`) || resp.Request.URL.Path != "/sub/" {
			t.Fatalf("GET /sub: %d at %s: %q", resp.StatusCode, resp.Request.URL, body)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		resp, _ := e.get(t, "GET", "/missing")
		if resp.StatusCode != 404 {
			t.Fatalf("status %d, want 404", resp.StatusCode)
		}
	})
}

// TestHTTPAdapterReverseProxyFront puts h2server in front: HTTP/2 clients
// reach an HTTP/1 backend through httputil.ReverseProxy.
func TestHTTPAdapterReverseProxyFront(t *testing.T) {
	tick := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			body, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("backend: reading body: %v", err)
			}
			w.Header().Set("Trailer", "X-Backend-Trailer")
			w.Header().Set("X-Method", r.Method)
			w.Header().Set("X-Request-Uri", r.RequestURI)
			w.Header().Set("X-Saw-Forwarded-For", r.Header.Get("X-Forwarded-For"))
			w.Header().Set("X-Saw-Custom", r.Header.Get("X-Custom"))
			w.Write(bytes.ToUpper(body))
			w.Header().Set("X-Backend-Trailer", "sum="+strconv.Itoa(len(body)))
		case "/hints":
			w.Header().Set("Link", "</app.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
			w.Write([]byte("after hints"))
		case "/stream":
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "tick 1\n")
			w.(http.Flusher).Flush()
			<-tick
			io.WriteString(w, "tick 2\n")
		}
	}))
	defer backend.Close()
	defer func() { // runs first: a failed test must not leave the backend blocked
		select {
		case <-tick:
		default:
			close(tick)
		}
	}()
	target, _ := url.Parse(backend.URL)
	e := startAdapter(t, httputil.NewSingleHostReverseProxy(target))

	t.Run("EchoWithTrailers", func(t *testing.T) {
		resp := e.do(t, "POST", "/echo?q=1", strings.NewReader("hello proxy"), "X-Custom", "c1")
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "HELLO PROXY" {
			t.Fatalf("body %q, %v; want HELLO PROXY", body, err)
		}
		wantHeader(t, resp, "X-Method", "POST")
		wantHeader(t, resp, "X-Request-Uri", "/echo?q=1")
		wantHeader(t, resp, "X-Saw-Forwarded-For", "127.0.0.1")
		wantHeader(t, resp, "X-Saw-Custom", "c1")
		if got := resp.Trailer.Get("X-Backend-Trailer"); got != "sum=11" {
			t.Errorf("trailer X-Backend-Trailer = %q, want sum=11 (trailers %v)", got, resp.Trailer)
		}
	})
	t.Run("EarlyHints", func(t *testing.T) {
		var hints []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			hints = append(hints, strconv.Itoa(code)+" "+h.Get("Link"))
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", e.url+"/hints", nil)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "after hints" || len(hints) != 1 || hints[0] != "103 </app.css>; rel=preload" {
			t.Fatalf("got hints %q and body %q", hints, body)
		}
		if resp.Header.Get("Link") != "" {
			t.Errorf("final response kept the hint's Link header")
		}
	})
	t.Run("Streaming", func(t *testing.T) {
		resp := e.do(t, "GET", "/stream", nil)
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		// The backend holds "tick 2" until the first line arrived: the
		// proxy's flushes reach the client through the adapter.
		if line, err := br.ReadString('\n'); line != "tick 1\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		tick <- struct{}{}
		if line, err := br.ReadString('\n'); line != "tick 2\n" {
			t.Fatalf("second line %q, %v", line, err)
		}
	})
}

// TestHTTPAdapterReverseProxyBackend puts h2server behind a ReverseProxy
// whose Transport is Go's HTTP/2 client over h2c.
func TestHTTPAdapterReverseProxyBackend(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading body: %v", err)
		}
		w.Header().Set("Trailer", "X-Length")
		w.Header().Set("X-Proto", r.Proto)
		w.Header().Set("X-Forwarded-For-Seen", r.Header.Get("X-Forwarded-For"))
		w.Write(body)
		w.Header().Set("X-Length", strconv.Itoa(len(body)))
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})
	e := startAdapter(t, mux)
	target, _ := url.Parse(e.url)
	proxyTransport := h2cTransport()
	defer proxyTransport.CloseIdleConnections()
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = proxyTransport
	front := httptest.NewServer(proxy)
	defer front.Close()

	payload := strings.Repeat("through the proxy; ", 1000)
	resp, err := front.Client().Post(front.URL+"/echo", "text/plain", strings.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != payload {
		t.Fatalf("got %d bytes, %v; want the %d-byte payload back", len(body), err, len(payload))
	}
	wantHeader(t, resp, "X-Proto", "HTTP/2.0")
	wantHeader(t, resp, "X-Forwarded-For-Seen", "127.0.0.1")
	if got := resp.Trailer.Get("X-Length"); got != strconv.Itoa(len(payload)) {
		t.Errorf("declared trailer X-Length = %q, want %d (trailers %v)", got, len(payload), resp.Trailer)
	}
	if got := resp.Trailer.Get("X-Late"); got != "late" {
		t.Errorf("TrailerPrefix trailer X-Late = %q, want late (trailers %v)", got, resp.Trailer)
	}
	front.Client().CloseIdleConnections()
}

func TestHTTPAdapterServeMuxPatterns(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "item %s (pattern %s)", r.PathValue("id"), r.Pattern)
	})
	mux.HandleFunc("POST /items/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("/files/{path...}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.PathValue("path"))
	})
	e := startAdapter(t, mux)

	if resp, body := e.get(t, "GET", "/items/42"); resp.StatusCode != 200 || body != "item 42 (pattern GET /items/{id})" {
		t.Errorf("GET /items/42: %d %q", resp.StatusCode, body)
	}
	// An escaped slash stays inside the wildcard: RawPath reached the mux.
	if resp, body := e.get(t, "GET", "/items/a%2Fb"); resp.StatusCode != 200 || body != "item a/b (pattern GET /items/{id})" {
		t.Errorf("GET /items/a%%2Fb: %d %q", resp.StatusCode, body)
	}
	if resp, body := e.get(t, "GET", "/files/x/y/z.txt?v=1"); resp.StatusCode != 200 || body != "x/y/z.txt" {
		t.Errorf("GET /files/x/y/z.txt: %d %q", resp.StatusCode, body)
	}
	if resp, _ := e.get(t, "POST", "/items/"); resp.StatusCode != http.StatusCreated {
		t.Errorf("POST /items/: %d, want 201", resp.StatusCode)
	}
	resp, _ := e.get(t, "DELETE", "/items/42")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /items/42: %d, want 405", resp.StatusCode)
	}
	wantHeader(t, resp, "Allow", "GET, HEAD, POST")
	if resp, _ := e.get(t, "GET", "/nothing"); resp.StatusCode != 404 {
		t.Errorf("GET /nothing: %d, want 404", resp.StatusCode)
	}
	if resp, body := e.get(t, "HEAD", "/items/7"); resp.StatusCode != 200 || body != "" || resp.ContentLength != int64(len("item 7 (pattern GET /items/{id})")) {
		t.Errorf("HEAD /items/7: %d %q Content-Length %d", resp.StatusCode, body, resp.ContentLength)
	}
}

func TestHTTPAdapterTrailers(t *testing.T) {
	e := startAdapter(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading body: %v", err)
		}
		w.Header().Set("Trailer", "X-Declared, X-Unset")
		w.Header().Set("X-Request-Trailer", r.Trailer.Get("X-Client-Sum"))
		w.Header().Set("X-Trailer-Keys", fmt.Sprint(len(r.Trailer)))
		w.WriteHeader(200)
		w.Write(body)
		w.Header().Set("X-Declared", "declared-value")
		w.Header().Set(http.TrailerPrefix+"X-Undeclared", "prefix-value")
		w.Header().Set(http.TrailerPrefix+"Content-Length", "ignored: not a valid trailer")
	}))

	req, _ := http.NewRequest("POST", e.url+"/", io.MultiReader(strings.NewReader("request "), strings.NewReader("body")))
	req.Trailer = http.Header{"X-Client-Sum": {"12"}}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(body) != "request body" {
		t.Fatalf("body %q, %v", body, err)
	}
	wantHeader(t, resp, "X-Request-Trailer", "12")
	wantHeader(t, resp, "X-Trailer-Keys", "1")
	// The client lists every declared name; X-Unset stays without a value.
	want := http.Header{"X-Declared": {"declared-value"}, "X-Undeclared": {"prefix-value"}, "X-Unset": nil}
	if fmt.Sprint(resp.Trailer) != fmt.Sprint(want) {
		t.Errorf("trailers %v, want %v", resp.Trailer, want)
	}
}

func TestHTTPAdapterInformational(t *testing.T) {
	e := startAdapter(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Link", "</b.js>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.WriteHeader(http.StatusAccepted)
		w.WriteHeader(http.StatusInternalServerError) // superfluous: logged, ignored
		io.WriteString(w, "final")
	}))
	var got []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		got = append(got, strconv.Itoa(code)+" "+h.Get("Link"))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", e.url+"/", nil)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := []string{"103 </a.css>; rel=preload", "103 </b.js>; rel=preload"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("informational responses %q, want %q", got, want)
	}
	if resp.StatusCode != http.StatusAccepted || string(body) != "final" {
		t.Errorf("final response %d %q, want 202 final", resp.StatusCode, body)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "superfluous response.WriteHeader call") || !strings.Contains(logs, "http_test.go") {
		t.Errorf("log lacks the superfluous WriteHeader line naming its caller:\n%s", logs)
	}
}

func TestHTTPAdapterSniffLengthDate(t *testing.T) {
	const html = "<html><body>hi</body></html>"
	bigChunk := strings.Repeat("x", 3000)
	handlerErr := make(chan string, 10)
	mux := http.NewServeMux()
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(html)) })
	mux.HandleFunc("/string", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "plain text") })
	mux.HandleFunc("/nosniff", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		w.Write([]byte(html))
	})
	mux.HandleFunc("/nodate", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = nil
		w.Write([]byte("x"))
	})
	mux.HandleFunc("/mydate", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", "Mon, 02 Jan 2006 15:04:05 GMT")
	})
	mux.HandleFunc("/encoded", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "identity")
		w.Write([]byte(html))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		for range 3 {
			io.WriteString(w, bigChunk)
		}
	})
	mux.HandleFunc("/flushed", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "abc")
		w.(http.Flusher).Flush()
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		if _, err := w.Write([]byte("x")); err != http.ErrBodyNotAllowed {
			handlerErr <- fmt.Sprintf("Write after 204: %v, want ErrBodyNotAllowed", err)
		}
	})
	mux.HandleFunc("/declared", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
		if _, err := w.Write([]byte("!")); err != http.ErrContentLength {
			handlerErr <- fmt.Sprintf("Write past Content-Length: %v, want ErrContentLength", err)
		}
	})
	e := startAdapter(t, mux)

	for _, tc := range []struct {
		method, path, body, ctype string
		clen                      string // the Content-Length field; "" when absent
	}{
		{"GET", "/html", html, "text/html; charset=utf-8", strconv.Itoa(len(html))},
		{"GET", "/string", "plain text", "text/plain; charset=utf-8", "10"},
		{"GET", "/nosniff", html, "", strconv.Itoa(len(html))},
		{"GET", "/encoded", html, "", strconv.Itoa(len(html))},
		{"GET", "/big", strings.Repeat(bigChunk, 3), "text/plain; charset=utf-8", ""},
		{"GET", "/flushed", "abc", "text/plain; charset=utf-8", ""},
		{"GET", "/empty", "", "", "0"},
		{"GET", "/nocontent", "", "", ""},
		{"GET", "/declared", "hello", "text/plain; charset=utf-8", "5"},
		{"HEAD", "/html", "", "text/html; charset=utf-8", strconv.Itoa(len(html))},
	} {
		resp, body := e.get(t, tc.method, tc.path)
		if body != tc.body || resp.Header.Get("Content-Type") != tc.ctype || resp.Header.Get("Content-Length") != tc.clen {
			t.Errorf("%s %s: body %d bytes, Content-Type %q, Content-Length %q; want %d bytes, %q, %q",
				tc.method, tc.path, len(body), resp.Header.Get("Content-Type"), resp.Header.Get("Content-Length"), len(tc.body), tc.ctype, tc.clen)
		}
		if d, err := http.ParseTime(resp.Header.Get("Date")); err != nil || time.Since(d) > time.Hour || time.Until(d) > time.Hour {
			t.Errorf("%s %s: Date %q is not the current time", tc.method, tc.path, resp.Header.Get("Date"))
		}
	}
	if resp, _ := e.get(t, "GET", "/nodate"); len(resp.Header["Date"]) != 0 {
		t.Errorf("suppressed Date was sent: %q", resp.Header["Date"])
	}
	if resp, _ := e.get(t, "GET", "/mydate"); fmt.Sprint(resp.Header["Date"]) != "[Mon, 02 Jan 2006 15:04:05 GMT]" {
		t.Errorf("handler's Date replaced: %q", resp.Header["Date"])
	}
	close(handlerErr)
	for msg := range handlerErr {
		t.Error(msg)
	}
}

func TestHTTPAdapterShortContentLengthResets(t *testing.T) {
	e := startAdapter(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "short")
	}))
	resp, err := e.client.Get(e.url + "/")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	var se http2.StreamError
	if !errors.As(err, &se) || se.Code != http2.ErrCodeInternal {
		t.Fatalf("got %v, want a stream reset with INTERNAL_ERROR", err)
	}
}

func TestHTTPAdapterAbortHandler(t *testing.T) {
	e := startAdapter(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/abort" {
			panic(http.ErrAbortHandler)
		}
		panic("boom")
	}))
	for _, path := range []string{"/abort", "/boom"} {
		// A reset discards what the writer has not sent yet, so the
		// client may see the reset before or after the flushed head.
		resp, err := e.client.Get(e.url + path)
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		var se http2.StreamError
		if !errors.As(err, &se) || se.Code != http2.ErrCodeInternal || (len(body) > 0 && string(body) != "partial") {
			t.Fatalf("GET %s: read %q, %v; want a stream reset with INTERNAL_ERROR", path, body, err)
		}
		// The log line, if any, precedes the reset the client saw.
		logs := e.logs.String()
		if path == "/abort" && logs != "" {
			t.Errorf("http.ErrAbortHandler logged:\n%s", logs)
		}
		if path == "/boom" && (!strings.Contains(logs, "handler panic") || !strings.Contains(logs, "boom")) {
			t.Errorf("another panic was not logged:\n%s", logs)
		}
	}
}

// TestHTTPAdapterFullDuplexEcho echoes each line of the request body as
// it arrives, while the client is still sending.
func TestHTTPAdapterFullDuplexEcho(t *testing.T) {
	e := startAdapter(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.EnableFullDuplex(); err != nil {
			t.Errorf("EnableFullDuplex: %v", err)
		}
		w.WriteHeader(200)
		if err := rc.Flush(); err != nil {
			t.Errorf("Flush: %v", err)
		}
		sc := bufio.NewScanner(r.Body)
		for sc.Scan() {
			io.WriteString(w, "echo "+sc.Text()+"\n")
			if err := rc.Flush(); err != nil {
				t.Errorf("Flush: %v", err)
				return
			}
		}
		if err := sc.Err(); err != nil {
			t.Errorf("reading body: %v", err)
		}
		io.WriteString(w, "bye\n")
	}))
	pr, pw := io.Pipe()
	resp := e.do(t, "POST", "/", pr)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for i := range 100 {
		fmt.Fprintf(pw, "ping %d\n", i)
		line, err := br.ReadString('\n')
		if want := fmt.Sprintf("echo ping %d\n", i); line != want {
			t.Fatalf("round %d: got %q, %v; want %q", i, line, err, want)
		}
	}
	pw.Close()
	if rest, err := io.ReadAll(br); string(rest) != "bye\n" || err != nil {
		t.Fatalf("after the body ended: %q, %v", rest, err)
	}
}

func TestHTTPAdapterContextCanceled(t *testing.T) {
	causes := make(chan error, 1)
	e := startAdapter(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		causes <- context.Cause(r.Context())
	}))

	t.Run("ClientCancels", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/", nil)
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		cancel() // the client resets the stream with CANCEL
		resp.Body.Close()
		cause := recv(t, causes, "the handler's context to end")
		var se *StreamError
		if !errors.As(cause, &se) || !se.Remote || se.Code != ErrCodeCancel {
			t.Fatalf("context cause %v, want the client's RST_STREAM CANCEL", cause)
		}
	})
	t.Run("ClientDisconnects", func(t *testing.T) {
		conns := make(chan net.Conn, 1)
		tr := h2cTransport()
		tr.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			if err == nil {
				conns <- c
			}
			return c, err
		}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Get(e.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		recv(t, conns, "the dial").Close()
		if cause := recv(t, causes, "the handler's context to end"); cause == nil {
			t.Fatal("context ended without a cause")
		}
	})
}

func TestHTTPAdapterReadDeadline(t *testing.T) {
	e := startAdapter(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
			t.Errorf("SetReadDeadline: %v", err)
		}
		_, err := r.Body.Read(make([]byte, 10))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Read past the deadline: %v, want os.ErrDeadlineExceeded", err)
		}
		// Lifting the deadline lets reading resume.
		if err := rc.SetReadDeadline(time.Time{}); err != nil {
			t.Errorf("SetReadDeadline: %v", err)
		}
		if err := rc.SetWriteDeadline(time.Now().Add(time.Minute)); err != nil {
			t.Errorf("SetWriteDeadline: %v", err)
		}
		io.WriteString(w, "deadline passed\n")
		rc.Flush()
		rest, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "then read %q, %v\n", rest, err)
	}))
	pr, pw := io.Pipe()
	resp := e.do(t, "POST", "/", pr)
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); line != "deadline passed\n" {
		t.Fatalf("got %q, %v", line, err)
	}
	io.WriteString(pw, "late data")
	pw.Close()
	if line, err := br.ReadString('\n'); line != "then read \"late data\", <nil>\n" {
		t.Fatalf("got %q, %v", line, err)
	}
}

// requestView is what a handler saw of its request.
type requestView struct {
	Method, Proto, Host, RequestURI, Path, RawPath, RawQuery, RemoteAddr string
	ProtoMajor, ProtoMinor                                               int
	ContentLength                                                        int64
	NoBody, TLS, HasHost, HasExpect, SameContext, StreamOK               bool
	Header                                                               http.Header
	Body                                                                 string
}

// wrappedWriter is a middleware's ResponseWriter with an Unwrap method.
type wrappedWriter struct{ http.ResponseWriter }

func (w wrappedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func TestHTTPAdapterRequest(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, ok := StreamOf(wrappedWriter{w})
		v := requestView{
			Method: r.Method, Proto: r.Proto, Host: r.Host, RequestURI: r.RequestURI,
			Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery, RemoteAddr: r.RemoteAddr,
			ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor, ContentLength: r.ContentLength,
			NoBody: r.Body == http.NoBody, TLS: r.TLS != nil,
			HasHost: r.Header["Host"] != nil, HasExpect: r.Header["Expect"] != nil,
			StreamOK: ok && st != nil, SameContext: ok && st.Context() == r.Context(),
			Header: r.Header,
		}
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading body: %v", err)
		}
		v.Body = string(b)
		json.NewEncoder(w).Encode(v)
	})
	check := func(t *testing.T, e *adapterEnv, req *http.Request, want requestView) requestView {
		t.Helper()
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v requestView
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		host, _, err := net.SplitHostPort(v.RemoteAddr)
		if err != nil || host != "127.0.0.1" {
			t.Errorf("RemoteAddr %q, want 127.0.0.1:port", v.RemoteAddr)
		}
		hdr := v.Header
		v.Header, v.RemoteAddr = nil, ""
		if fmt.Sprintf("%+v", v) != fmt.Sprintf("%+v", want) {
			t.Errorf("handler saw\n%+v\nwant\n%+v", v, want)
		}
		return requestView{Header: hdr}
	}
	base := requestView{Method: "GET", Proto: "HTTP/2.0", ProtoMajor: 2, StreamOK: true, SameContext: true}

	e := startAdapter(t, handler)
	host := e.addr
	t.Run("Get", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.url+"/a/b?x=1&y=%20", nil)
		req.Header.Set("X-Custom", "v1")
		req.Header.Add("Cookie", "a=1")
		req.Header.Add("Cookie", "b=2")
		want := base
		want.Host, want.RequestURI, want.Path, want.RawQuery = host, "/a/b?x=1&y=%20", "/a/b", "x=1&y=%20"
		want.NoBody = true
		got := check(t, e, req, want)
		if got.Header.Get("X-Custom") != "v1" || got.Header.Get("Cookie") != "a=1; b=2" {
			t.Errorf("header %v", got.Header)
		}
	})
	t.Run("EscapedPath", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.url+"/a%2Fb/c%20d", nil)
		want := base
		want.Host, want.RequestURI, want.Path, want.RawPath = host, "/a%2Fb/c%20d", "/a/b/c d", "/a%2Fb/c%20d"
		want.NoBody = true
		check(t, e, req, want)
	})
	t.Run("PostKnownLength", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.url+"/post", strings.NewReader("abc"))
		want := base
		want.Method, want.Host, want.RequestURI, want.Path = "POST", host, "/post", "/post"
		want.ContentLength, want.Body = 3, "abc"
		check(t, e, req, want)
	})
	t.Run("PostUnknownLength", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.url+"/post", io.MultiReader(strings.NewReader("streamed")))
		want := base
		want.Method, want.Host, want.RequestURI, want.Path = "POST", host, "/post", "/post"
		want.ContentLength, want.Body = -1, "streamed"
		check(t, e, req, want)
	})
	t.Run("ExpectContinue", func(t *testing.T) {
		got100 := make(chan struct{}, 1)
		trace := &httptrace.ClientTrace{Got100Continue: func() { got100 <- struct{}{} }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace),
			"PUT", e.url+"/put", strings.NewReader("after 100"))
		req.Header.Set("Expect", "100-continue")
		want := base
		want.Method, want.Host, want.RequestURI, want.Path = "PUT", host, "/put", "/put"
		want.ContentLength, want.Body = 9, "after 100"
		check(t, e, req, want)
		recv(t, got100, "100 Continue")
	})

	t.Run("TLS", func(t *testing.T) {
		// The h2c server's pooled connection would park meanwhile, and
		// its epoll goroutine outlive this subtest's leak check: close it
		// first (whatever it started then ends within the check's wait).
		e.tr.CloseIdleConnections()
		cert, _ := testCert()
		e := startAdapter(t, handler, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
		req, _ := http.NewRequest("GET", e.url+"/tls", nil)
		want := base
		want.Host, want.RequestURI, want.Path, want.TLS, want.NoBody = e.addr, "/tls", "/tls", true, true
		check(t, e, req, want)
	})
}

func TestHTTPAdapterStreamOf(t *testing.T) {
	if st, ok := StreamOf(httptest.NewRecorder()); ok || st != nil {
		t.Errorf("StreamOf(recorder) = %v, %v", st, ok)
	}
	ids := make(chan uint32, 1)
	e := startAdapter(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, ok := StreamOf(w)
		if !ok {
			t.Error("StreamOf found no stream")
			return
		}
		ids <- st.ID()
		// The handler writes through the Stream directly.
		st.WriteHeaders(http.StatusTeapot, http.Header{"X-Direct": {"yes"}})
		st.Write([]byte("direct"))
	}))
	resp, body := e.get(t, "GET", "/")
	if resp.StatusCode != http.StatusTeapot || body != "direct" || resp.Header.Get("X-Direct") != "yes" {
		t.Errorf("got %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if id := recv(t, ids, "the stream ID"); id != 1 {
		t.Errorf("stream ID %d, want 1", id)
	}
}

func TestHTTPAdapterSwitchingProtocolsResets(t *testing.T) {
	e := startAdapter(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusSwitchingProtocols)
	}))
	_, err := e.client.Get(e.url + "/")
	var se http2.StreamError
	if !errors.As(err, &se) || se.Code != http2.ErrCodeInternal {
		t.Fatalf("got %v, want a stream reset with INTERNAL_ERROR", err)
	}
	if !strings.Contains(e.logs.String(), "101 Switching Protocols") {
		t.Errorf("no log line for the 101:\n%s", e.logs)
	}
}

func TestHTTPAdapterParsePath(t *testing.T) {
	for _, p := range []string{
		"/", "/a/b", "/a/b?", "/a/b?x=1&y=2", "/a?b?c", "/a%20b", "/a%2Fb?q=%2F", "/a b", "/é",
		"//host/path", "/a:b@c;d=e,f$g&h+i~j", "/a!b", "/a'b(c)*", "/a#frag", "/a?x#y", "*",
		"/%zz", "/a?\x01", "relative", "/a/../b", "/a\x7f",
	} {
		var u url.URL
		ok := parseRequestPath(&u, p)
		want, err := url.ParseRequestURI(p)
		if ok != (err == nil) {
			t.Errorf("%q: parsed %v, url.ParseRequestURI error %v", p, ok, err)
			continue
		}
		if ok && u != *want {
			t.Errorf("%q: got %#v, want %#v", p, u, *want)
		}
	}
}

// TestHTTPAdapterMatchesNetHTTP serves the same handlers with net/http's
// own HTTP/2 server (h2c) and with the adapter, and compares what Go's
// client sees: status, informational responses, header fields (Date
// only for presence), body, Content-Length and trailers.
func TestHTTPAdapterMatchesNetHTTP(t *testing.T) {
	modTime := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	content := strings.Repeat("0123456789", 1000)
	mux := http.NewServeMux()
	handle := func(path string, f func(w http.ResponseWriter, r *http.Request)) { mux.HandleFunc(path, f) }
	handle("/plain", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	handle("/html", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<!DOCTYPE html><p>hi") })
	handle("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"ok":true}`)
	})
	handle("/empty", func(w http.ResponseWriter, r *http.Request) {})
	handle("/204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	handle("/304", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Etag", `"x"`)
		w.WriteHeader(http.StatusNotModified)
	})
	handle("/big", func(w http.ResponseWriter, r *http.Request) {
		for range 5 {
			io.WriteString(w, content[:2000])
		}
	})
	handle("/exactly4k", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, content[:4096]) })
	handle("/over4k", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, content[:4097]) })
	handle("/flush", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "one ")
		w.(http.Flusher).Flush()
		io.WriteString(w, "two")
	})
	handle("/flush-first", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
		io.WriteString(w, "<html>")
	})
	handle("/trailers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-A, X-B")
		io.WriteString(w, "body")
		w.Header().Set("X-A", "a")
		w.Header().Set(http.TrailerPrefix+"X-C", "c")
	})
	handle("/trailers-nobody", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(http.TrailerPrefix+"X-Only", "only")
	})
	handle("/nil-ct", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		io.WriteString(w, "<html>")
	})
	handle("/error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad thing", http.StatusBadRequest) })
	handle("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/plain", http.StatusFound) })
	handle("/cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3")
		io.WriteString(w, "abc")
	})
	handle("/bad-cl", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "nope")
		io.WriteString(w, "abc")
	})
	handle("/late-header", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Early", "1")
		w.WriteHeader(200)
		w.Header().Set("X-Late", "1")
		io.WriteString(w, "x")
		w.Header().Set("X-Later", "1")
	})
	handle("/multi", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
	})
	handle("/hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</x.css>; rel=preload")
		w.Header().Set("Content-Length", "2") // not in the 103
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "ok")
	})
	handle("/encoded", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "x-custom")
		io.WriteString(w, "<html>")
	})
	handle("/content", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "file.txt", modTime, strings.NewReader(content))
	})
	handle("/connection", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "keep-alive")
		w.Header().Set("Transfer-Encoding", "chunked")
		w.Header().Set("Keep-Alive", "timeout=5")
		io.WriteString(w, "x")
	})
	handle("/echo-info", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s %s %d %q %q %v %v", r.Method, r.Proto, r.RequestURI, r.ContentLength,
			r.Header.Get("Host"), r.Header.Get("X-Req"), r.URL, r.Host != "")
	})

	// net/http's own HTTP/2 server, over h2c.
	ref := httptest.NewUnstartedServer(mux)
	ref.Config.Protocols = new(http.Protocols)
	ref.Config.Protocols.SetUnencryptedHTTP2(true)
	ref.Start()
	defer ref.Close()
	refClient := &http.Client{Transport: h2cTransport(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer refClient.Transport.(*http2.Transport).CloseIdleConnections()

	e := startAdapter(t, mux)
	e.client.CheckRedirect = refClient.CheckRedirect

	describe := func(c *http.Client, base, method, path string, hdr ...string) string {
		var hints []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			hints = append(hints, fmt.Sprint(code, h))
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, base+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := c.Do(req)
		if err != nil {
			return "error: " + err.Error()
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		h := resp.Header.Clone()
		if _, ok := h["Date"]; ok {
			h["Date"] = []string{"present"}
		}
		return fmt.Sprintf("status %d\nhints %v\nheader %v\ncontent-length %d\nbody %q (%v)\ntrailer %v",
			resp.StatusCode, hints, h, resp.ContentLength, body, err, resp.Trailer)
	}
	for _, tc := range []struct {
		method, path string
		hdr          []string
	}{
		{"GET", "/plain", nil}, {"HEAD", "/plain", nil}, {"GET", "/html", nil}, {"GET", "/json", nil},
		{"GET", "/empty", nil}, {"HEAD", "/empty", nil}, {"GET", "/204", nil}, {"GET", "/304", nil},
		{"GET", "/big", nil}, {"HEAD", "/big", nil}, {"GET", "/exactly4k", nil}, {"GET", "/over4k", nil},
		{"GET", "/flush", nil}, {"GET", "/flush-first", nil}, {"GET", "/trailers", nil},
		{"GET", "/trailers-nobody", nil}, {"GET", "/nil-ct", nil}, {"GET", "/error", nil},
		{"GET", "/redirect", nil}, {"GET", "/cl", nil}, {"GET", "/bad-cl", nil}, {"GET", "/late-header", nil},
		{"GET", "/multi", nil}, {"GET", "/hints", nil}, {"GET", "/encoded", nil}, {"GET", "/content", nil},
		{"HEAD", "/content", nil}, {"GET", "/content", []string{"Range", "bytes=10-19"}},
		{"GET", "/content", []string{"If-Modified-Since", modTime.Format(http.TimeFormat)}},
		{"GET", "/connection", nil}, {"GET", "/echo-info?a=b&c", []string{"X-Req", "r"}},
		{"GET", "/missing", nil}, {"POST", "/json", nil},
	} {
		want := describe(refClient, ref.URL, tc.method, tc.path, tc.hdr...)
		got := describe(e.client, e.url, tc.method, tc.path, tc.hdr...)
		if got != want {
			t.Errorf("%s %s %v:\nadapter:\n%s\nnet/http:\n%s", tc.method, tc.path, tc.hdr, got, want)
		}
	}
}
