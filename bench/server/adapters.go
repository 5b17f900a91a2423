package main

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

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

func (e streamExchange) WriteHead(status int, contentType string, contentLength int) error {
	return e.st.WriteHeaders(status, heads.get(contentType, contentLength))
}

// heads keeps the response headers of the handlers' fixed responses,
// each built once: h2server reads a header only during WriteHeaders, so a
// handler may hand it the same one every time, as a server for static
// files would (net/http cannot: every response gets a Header map of its
// own, which its adapter fills).
var heads headCache

type headCache struct {
	m sync.Map
	n atomic.Int32 // entries stored: at most maxHeads, whatever lengths clients upload
}

const maxHeads = 64

type headKey struct {
	contentType   string
	contentLength int
}

func (c *headCache) get(contentType string, contentLength int) http.Header {
	k := headKey{contentType, contentLength}
	if h, ok := c.m.Load(k); ok {
		return h.(http.Header)
	}
	h := http.Header{"Content-Type": {contentType}}
	if contentLength >= 0 {
		h["Content-Length"] = []string{strconv.Itoa(contentLength)}
	}
	if c.n.Add(1) <= maxHeads {
		c.m.Store(k, h)
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
