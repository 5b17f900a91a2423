package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/h2server/h2server"
	"golang.org/x/net/http2"
)

// metrics holds the counters that Server.Hooks feed. Hooks run on the
// server's reader, writer and handler goroutines, so every update is one
// atomic add (plus a sync.Map lookup for a labelled counter).
type metrics struct {
	connsOpened, connsClosed, connsActive atomic.Int64
	streamsStarted                        atomic.Int64
	streamsEnded                          counterVec // by status class: "2xx", ..., "none" (reset before a final status)
	bodyBytesIn, bodyBytesOut             atomic.Int64
	frameBytesIn, frameBytesOut           atomic.Int64 // frame headers included: the HTTP/2 bytes on the wire
	framesRead, framesWritten             counterVec   // by frame type: "DATA", "HEADERS", ...
	rejections                            counterVec   // by reason token
}

func newMetrics() *metrics { return new(metrics) }

// hooks returns the Server.Hooks that fill m.
func (m *metrics) hooks() *h2server.Hooks {
	return &h2server.Hooks{
		ConnOpened: func(*h2server.ConnInfo) {
			m.connsOpened.Add(1)
			m.connsActive.Add(1)
		},
		ConnClosed: func(*h2server.ConnInfo) {
			m.connsClosed.Add(1)
			m.connsActive.Add(-1)
		},
		StreamStarted: func(*h2server.StreamInfo) { m.streamsStarted.Add(1) },
		StreamEnded: func(s *h2server.StreamInfo) {
			m.streamsEnded.add(statusClass(s.Status), 1)
			m.bodyBytesIn.Add(s.BytesIn)
			m.bodyBytesOut.Add(s.BytesOut)
		},
		FrameRead: func(_ *h2server.ConnInfo, h http2.FrameHeader) {
			m.framesRead.add(h.Type.String(), 1)
			m.frameBytesIn.Add(9 + int64(h.Length))
		},
		FrameWritten: func(_ *h2server.ConnInfo, h http2.FrameHeader) {
			m.framesWritten.add(h.Type.String(), 1)
			m.frameBytesOut.Add(9 + int64(h.Length))
		},
		Rejected: func(r *h2server.Rejection) {
			// A reason is a token, sometimes followed by detail such as
			// "too_many_glitches (last: ...)": the label keeps the token,
			// so that the series stay few.
			reason, _, _ := strings.Cut(r.Reason, " ")
			m.rejections.add(reason, 1)
		},
	}
}

func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "none"
	}
	return string(rune('0'+status/100)) + "xx"
}

// counterVec is a family of counters keyed by one label's value.
type counterVec struct {
	m sync.Map // label value -> *atomic.Int64
}

func (v *counterVec) add(label string, n int64) {
	c, ok := v.m.Load(label)
	if !ok {
		c, _ = v.m.LoadOrStore(label, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(n)
}

// snapshot returns the counters by label value.
func (v *counterVec) snapshot() map[string]int64 {
	out := make(map[string]int64)
	v.m.Range(func(k, c any) bool {
		out[k.(string)] = c.(*atomic.Int64).Load()
		return true
	})
	return out
}

// family is one metric as the exposition format and expvar show it.
type family struct {
	name, help, typ string
	label           string           // the label's name for a vector, "" for a single value
	value           int64            // a single value
	values          map[string]int64 // a vector's values by label value
}

func (m *metrics) families() []family {
	one := func(name, typ, help string, v *atomic.Int64) family {
		return family{name: name, typ: typ, help: help, value: v.Load()}
	}
	vec := func(name, label, help string, v *counterVec) family {
		return family{name: name, typ: "counter", help: help, label: label, values: v.snapshot()}
	}
	return []family{
		one("h2server_connections_opened_total", "counter", "HTTP/2 connections that passed the client preface.", &m.connsOpened),
		one("h2server_connections_closed_total", "counter", "HTTP/2 connections closed.", &m.connsClosed),
		one("h2server_connections_active", "gauge", "HTTP/2 connections open now.", &m.connsActive),
		one("h2server_streams_started_total", "counter", "Request streams admitted.", &m.streamsStarted),
		vec("h2server_streams_ended_total", "class", `Request streams ended, by response status class ("none": no final status was sent).`, &m.streamsEnded),
		one("h2server_request_body_bytes_total", "counter", "Request body bytes received by ended streams.", &m.bodyBytesIn),
		one("h2server_response_body_bytes_total", "counter", "Response body bytes sent by ended streams.", &m.bodyBytesOut),
		one("h2server_read_bytes_total", "counter", "HTTP/2 frame bytes read, frame headers included.", &m.frameBytesIn),
		one("h2server_written_bytes_total", "counter", "HTTP/2 frame bytes written, frame headers included.", &m.frameBytesOut),
		vec("h2server_frames_read_total", "type", "HTTP/2 frames read, by frame type.", &m.framesRead),
		vec("h2server_frames_written_total", "type", "HTTP/2 frames written, by frame type.", &m.framesWritten),
		vec("h2server_rejections_total", "reason", "Limits tripped and protocol errors, by reason token.", &m.rejections),
	}
}

// writePrometheus writes m in the Prometheus text exposition format
// (version 0.0.4).
func (m *metrics) writePrometheus(w io.Writer) error {
	var b strings.Builder
	for _, f := range m.families() {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, escapeHelp(f.help), f.name, f.typ)
		if f.label == "" {
			fmt.Fprintf(&b, "%s %d\n", f.name, f.value)
			continue
		}
		// Sorted, so that a scrape reads the same way each time.
		for _, lv := range slices.Sorted(maps.Keys(f.values)) {
			fmt.Fprintf(&b, "%s{%s=\"%s\"} %d\n", f.name, f.label, escapeLabel(lv), f.values[lv])
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// ServeHTTP serves the exposition format (GET /metrics).
func (m *metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.writePrometheus(w)
}

// String makes m an expvar.Var: a JSON object of the same families, a
// vector as an object by label value.
func (m *metrics) String() string {
	out := make(map[string]any)
	for _, f := range m.families() {
		if f.label == "" {
			out[f.name] = f.value
		} else {
			out[f.name] = f.values
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "{}"
	}
	return string(b)
}
