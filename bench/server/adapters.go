package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/h2server/h2server"
)

// streamExchange adapts an h2server.Stream to exchange. It is one pointer,
// so passing it as an interface costs no allocation.
type streamExchange struct{ st *h2server.Stream }

func (e streamExchange) Method() string { return e.st.Request().Method }
func (e streamExchange) Path() string {
	// :path carries the query; net/http's URL.Path does not.
	p, _, _ := strings.Cut(e.st.Request().Path, "?")
	return p
}

func (e streamExchange) Query() url.Values {
	_, q, _ := strings.Cut(e.st.Request().Path, "?")
	v, _ := url.ParseQuery(q)
	return v
}
func (e streamExchange) Read(p []byte) (int, error) { return e.st.Read(p) }
func (e streamExchange) Write(p []byte) (int, error) {
	return e.st.Write(p)
}
func (e streamExchange) Flush() error { return e.st.Flush() }

func (e streamExchange) WhenReadable(next func(exchange)) bool {
	e.st.WhenReadable(func(st *h2server.Stream) { next(streamExchange{st}) })
	return true
}

func (e streamExchange) WriteHead(status int, contentType string, contentLength int) error {
	return e.st.WriteHeaders(status, head(status, contentType, contentLength))
}

// heads keeps the response headers of the handlers' fixed responses,
// built once at start: h2server reads a header only during WriteHeaders,
// so a handler may hand it the same one every time, as a server of static
// files would (net/http cannot: every response gets a Header map of its
// own, which its adapter fills). Other heads are built per response. A
// scan of three entries: a map keyed by the struct spent 4% of a small
// request hashing it.
var heads []fixedHead

type fixedHead struct {
	status        int
	contentType   string
	contentLength int
	h             http.Header
}

func init() {
	for _, k := range []fixedHead{
		{status: http.StatusOK, contentType: "text/plain", contentLength: len(helloBody)},
		{status: http.StatusOK, contentType: "application/octet-stream", contentLength: len(bigBody)},
		{status: http.StatusNotFound, contentType: "text/plain", contentLength: 0},
	} {
		k.h = buildHead(k.contentType, k.contentLength)
		heads = append(heads, k)
	}
}

func head(status int, contentType string, contentLength int) http.Header {
	for i := range heads {
		f := &heads[i]
		if f.status == status && f.contentLength == contentLength && f.contentType == contentType {
			return f.h
		}
	}
	return buildHead(contentType, contentLength)
}

func buildHead(contentType string, contentLength int) http.Header {
	h := http.Header{"Content-Type": {contentType}}
	if contentLength >= 0 {
		h["Content-Length"] = []string{strconv.Itoa(contentLength)}
	}
	return h
}

func h2serverHandler() h2server.Handler {
	return h2server.HandlerFunc(func(st *h2server.Stream) { serve(streamExchange{st}) })
}

// httpExchange adapts net/http's ResponseWriter and Request to exchange.
type httpExchange struct {
	w http.ResponseWriter
	r *http.Request
}

func (e *httpExchange) Method() string              { return e.r.Method }
func (e *httpExchange) Path() string                { return e.r.URL.Path }
func (e *httpExchange) Query() url.Values           { return e.r.URL.Query() }
func (e *httpExchange) Read(p []byte) (int, error)  { return e.r.Body.Read(p) }
func (e *httpExchange) Write(p []byte) (int, error) { return e.w.Write(p) }

// WhenReadable: a net/http handler waits for its body in Read.
func (e *httpExchange) WhenReadable(func(exchange)) bool { return false }

func (e *httpExchange) Flush() error {
	e.w.(http.Flusher).Flush()
	return nil
}

func (e *httpExchange) WriteHead(status int, contentType string, contentLength int) error {
	h := e.w.Header()
	h.Set("Content-Type", contentType)
	if contentLength >= 0 {
		h.Set("Content-Length", strconv.Itoa(contentLength))
	}
	// h2server sends no Date field; a nil Date keeps net/http from adding
	// one, so both servers put the same bytes on the wire.
	h["Date"] = nil
	e.w.WriteHeader(status)
	return nil
}

func netHTTPHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		serve(&httpExchange{w, r})
	})
}
