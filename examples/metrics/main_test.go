package main

import (
	"context"
	"encoding/json"
	"expvar"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// start runs the example on a loopback port until the test ends.
func start(t *testing.T) (base string, m *metrics) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m = newMetrics()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln, m) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), m
}

// h2cClient speaks HTTP/2 with prior knowledge over cleartext.
func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}, Timeout: 10 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp, string(b)
}

// scrape fetches /metrics and parses it (see parseExposition).
func scrape(t *testing.T, c *http.Client, base string) (samples map[string]float64, size int) {
	t.Helper()
	resp, body := get(t, c, base+"/metrics")
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("GET /metrics: %s over %s", resp.Status, resp.Proto)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("GET /metrics: Content-Type %q, want the text exposition format's", ct)
	}
	samples, err := parseExposition(body)
	if err != nil {
		t.Fatalf("GET /metrics: %v\n%s", err, body)
	}
	return samples, len(body)
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"\})? (\S+)$`)
)

// parseExposition checks the Prometheus text format line by line, as far
// as this example uses it (one label at most), and returns the samples by
// series ("name" or `name{label="value"}`). Each family must have one
// # HELP and then one # TYPE line before its samples, a counter's name
// ends in _total, and no series repeats.
func parseExposition(text string) (map[string]float64, error) {
	if !strings.HasSuffix(text, "\n") {
		return nil, fmt.Errorf("exposition does not end with a newline")
	}
	samples := make(map[string]float64)
	seen := make(map[string]bool) // families with a # HELP line
	var family, help, typ string  // the family whose samples may follow
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("line %d %q: %s", i+1, line, fmt.Sprintf(format, args...))
		}
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name, text, ok := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			if !ok || !metricName.MatchString(name) || text == "" {
				return nil, bad("malformed HELP")
			}
			if seen[name] {
				return nil, bad("second HELP for %s", name)
			}
			seen[name] = true
			family, help, typ = name, text, ""
		case strings.HasPrefix(line, "# TYPE "):
			name, t, ok := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			if !ok || name != family || help == "" || typ != "" {
				return nil, bad("TYPE without its HELP just before")
			}
			switch t {
			case "counter":
				if !strings.HasSuffix(name, "_total") {
					return nil, bad("counter name does not end in _total")
				}
			case "gauge":
			default:
				return nil, bad("type %q, want counter or gauge", t)
			}
			typ = t
		case strings.HasPrefix(line, "#"):
			return nil, bad("unexpected comment")
		default:
			m := sampleLine.FindStringSubmatch(line)
			if m == nil {
				return nil, bad("malformed sample")
			}
			if m[1] != family || typ == "" {
				return nil, bad("sample outside its family's HELP and TYPE")
			}
			v, err := strconv.ParseFloat(m[3], 64)
			if err != nil {
				return nil, bad("value: %v", err)
			}
			if typ == "counter" && v < 0 {
				return nil, bad("negative counter")
			}
			key := m[1] + m[2]
			if _, dup := samples[key]; dup {
				return nil, bad("series repeated")
			}
			samples[key] = v
		}
	}
	return samples, nil
}

var (
	publishOnce sync.Once
	published   atomic.Pointer[metrics]
)

// publish makes m the expvar "h2server" (expvar.Publish panics on a
// second call for a name, and tests may run more than once).
func publish(m *metrics) {
	published.Store(m)
	publishOnce.Do(func() {
		expvar.Publish("h2server", expvar.Func(func() any {
			return json.RawMessage(published.Load().String())
		}))
	})
}

// TestMetricsMove scrapes /metrics, makes known requests on a new
// connection, and checks that each counter moved by what they explain.
func TestMetricsMove(t *testing.T) {
	base, m := start(t)
	publish(m)
	scraper := h2cClient()
	defer scraper.CloseIdleConnections()
	before, size0 := scrape(t, scraper, base)
	for _, name := range []string{
		"h2server_connections_opened_total", "h2server_connections_closed_total", "h2server_connections_active",
		"h2server_streams_started_total", "h2server_request_body_bytes_total", "h2server_response_body_bytes_total",
		"h2server_read_bytes_total", "h2server_written_bytes_total",
	} {
		if _, ok := before[name]; !ok {
			t.Errorf("first scrape lacks %s", name)
		}
	}

	// The workload, on a connection of its own: three GET /, a stream of
	// five lines, a 404.
	w := h2cClient()
	var bodyBytes int
	for range 3 {
		resp, body := get(t, w, base+"/")
		if resp.StatusCode != 200 || !strings.Contains(body, "GET / HTTP/2.0") {
			t.Fatalf("GET /: %s %q", resp.Status, body)
		}
		bodyBytes += len(body)
	}
	resp, body := get(t, w, base+"/stream?n=5&interval=0")
	if resp.StatusCode != 200 || strings.Count(body, "\n") != 5 || !strings.HasSuffix(body, "line 5 of 5\n") {
		t.Fatalf("GET /stream: %s %q", resp.Status, body)
	}
	bodyBytes += len(body)
	resp, body = get(t, w, base+"/nope")
	if resp.StatusCode != 404 {
		t.Fatalf("GET /nope: %s", resp.Status)
	}
	bodyBytes += len(body)
	w.CloseIdleConnections()

	// HTTP/1.1 to the h2c port: a 505 and a rejection, no connection.
	resp, _ = get(t, &http.Client{Timeout: 10 * time.Second}, base+"/")
	if resp.StatusCode != http.StatusHTTPVersionNotSupported {
		t.Fatalf("HTTP/1.1 GET: %s, want 505", resp.Status)
	}

	// Hooks run on the server's goroutines after the client has its
	// answer (StreamEnded once the handler has returned, ConnClosed once
	// the server saw the close), so poll. Each scrape is a stream too:
	// scrape k (from 1) has started k streams after the first scrape and
	// ended the first scrape and k-1 others, whose bodies it counts.
	deadline := time.Now().Add(10 * time.Second)
	scrapeBytes := size0
	for k := 1; ; k++ {
		after, size := scrape(t, scraper, base)
		delta := func(series string) float64 { return after[series] - before[series] }
		want := []struct {
			series string
			want   float64
		}{
			{"h2server_connections_opened_total", 1},
			{"h2server_connections_closed_total", 1},
			{"h2server_streams_started_total", float64(5 + k)},
			{`h2server_streams_ended_total{class="2xx"}`, float64(4 + k)},
			{`h2server_streams_ended_total{class="4xx"}`, 1},
			{`h2server_frames_read_total{type="HEADERS"}`, float64(5 + k)},
			{`h2server_frames_written_total{type="HEADERS"}`, float64(5 + k)},
			{`h2server_rejections_total{reason="http1_request"}`, 1},
			{"h2server_request_body_bytes_total", 0},
			{"h2server_response_body_bytes_total", float64(bodyBytes + scrapeBytes)},
		}
		var wrong []string
		for _, w := range want {
			if got := delta(w.series); got != w.want {
				wrong = append(wrong, fmt.Sprintf("%s moved by %v, want %v", w.series, got, w.want))
			}
		}
		if got := after["h2server_connections_active"]; got != 1 {
			wrong = append(wrong, fmt.Sprintf("h2server_connections_active = %v, want 1 (the scraper's)", got))
		}
		for _, series := range []string{
			`h2server_frames_read_total{type="SETTINGS"}`, `h2server_frames_written_total{type="SETTINGS"}`,
			`h2server_frames_written_total{type="DATA"}`, "h2server_read_bytes_total", "h2server_written_bytes_total",
		} {
			if delta(series) <= 0 {
				wrong = append(wrong, series+" did not move")
			}
		}
		if len(wrong) == 0 {
			t.Logf("counters as expected after %d scrapes", k)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d scrapes:\n  %s", k, strings.Join(wrong, "\n  "))
		}
		scrapeBytes += size
		time.Sleep(20 * time.Millisecond)
	}

	// The same counters with expvar.
	_, body = get(t, scraper, base+"/debug/vars")
	var vars struct {
		H2server struct {
			Opened     int64            `json:"h2server_connections_opened_total"`
			Rejections map[string]int64 `json:"h2server_rejections_total"`
		} `json:"h2server"`
	}
	if err := json.Unmarshal([]byte(body), &vars); err != nil {
		t.Fatalf("/debug/vars: %v\n%s", err, body)
	}
	if vars.H2server.Opened != 2 || vars.H2server.Rejections["http1_request"] != 1 {
		t.Errorf("/debug/vars h2server = %+v, want 2 connections opened and 1 http1_request rejection", vars.H2server)
	}
}

// TestExpositionEscapes checks that label values and help text are
// escaped so that the output still parses.
func TestExpositionEscapes(t *testing.T) {
	m := newMetrics()
	m.rejections.add("a\"b\\c\nd", 2)
	m.rejections.add("plain", 1)
	var b strings.Builder
	if err := m.writePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	samples, err := parseExposition(b.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if got := samples[`h2server_rejections_total{reason="a\"b\\c\nd"}`]; got != 2 {
		t.Errorf("escaped series = %v, want 2\n%s", got, b.String())
	}
	if got := samples[`h2server_rejections_total{reason="plain"}`]; got != 1 {
		t.Errorf("plain series = %v, want 1", got)
	}
}

func TestStatusClass(t *testing.T) {
	for status, want := range map[int]string{0: "none", 100: "1xx", 200: "2xx", 204: "2xx", 404: "4xx", 599: "5xx", 600: "none"} {
		if got := statusClass(status); got != want {
			t.Errorf("statusClass(%d) = %q, want %q", status, got, want)
		}
	}
}
