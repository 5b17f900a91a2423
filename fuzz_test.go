package h2server

// Fuzz targets. Their seed corpora live in testdata/fuzz/<Target>/ and run
// with every `go test`; .ci/fuzz.sh fuzzes each target for a while.
//
// FuzzServerConn feeds arbitrary bytes to a server connection after a
// valid client preface, inside a testing/synctest bubble (fake time, so
// timeouts cost nothing and "the server is idle" is exact), and checks
// what must hold whatever a client sends: no panic; every frame the
// server sends parses, uses streams the client opened and stays within
// the flow-control credit the client could have granted; the server
// answers a PING or has ended the connection; its memory and output stay
// proportionate to the input; and once the client hangs up, ServeConn
// returns and every goroutine of the connection, handlers included, exits
// (synctest.Test fails on any goroutine left blocked).
//
// FuzzParseRequest feeds arbitrary header lists to the request and trailer
// validation of headers.go and re-checks, independently, RFC 9113
// sections 8.2 and 8.3: what is accepted is well-formed, and what is
// well-formed is accepted.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// fuzzVariant is a handler and a configuration to run the input against.
type fuzzVariant struct {
	name      string
	handler   func(st *Stream)
	configure func(s *Server)
}

var fuzzVariants = []fuzzVariant{
	{
		// Reads the whole body, then writes a small response (never
		// anything derived from the request: HPACK lets a few input bytes
		// stand for kilobytes of fields, which would defeat the output
		// bound).
		name: "read",
		handler: func(st *Stream) {
			io.Copy(io.Discard, st)
			io.WriteString(st, "ok")
		},
		configure: func(*Server) {},
	},
	{
		// Echoes the body as it arrives, under small limits so that
		// flow control, the concurrency limit and the header list limit
		// are all within reach of short inputs; with extended CONNECT on,
		// so that CONNECT and :protocol requests open tunnels.
		name: "echo_small_limits",
		handler: func(st *Stream) {
			buf := make([]byte, 1024)
			for {
				n, err := st.Read(buf)
				if n > 0 {
					if _, werr := st.Write(buf[:n]); werr != nil {
						return
					}
					st.Flush()
				}
				if err != nil {
					return
				}
			}
		},
		configure: func(s *Server) {
			s.MaxConcurrentStreams = 4
			s.MaxHeaderListSize = 1024
			s.InitialStreamWindowSize = 1000
			s.InitialConnWindowSize = 65535
			s.MaxGlitchesPerMinute = 50
			s.MaxQueuedControlFrames = 20
			s.EnableConnectProtocol = true
		},
	},
}

func FuzzServerConn(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, v := range fuzzVariants {
			synctest.Test(t, func(t *testing.T) { fuzzServerConn(t, v, data) })
		}
	})
}

// fuzzRuns counts runs of FuzzServerConn in this process.
var fuzzRuns atomic.Int64

// fuzzing reports whether this process runs a fuzzer (go test -fuzz),
// rather than the seed corpus.
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// fuzzPing is the payload of the PING that checks the server still reads.
var fuzzPing = [8]byte{'f', 'u', 'z', 'z', 'p', 'i', 'n', 'g'}

func fuzzServerConn(t *testing.T, v fuzzVariant, data []byte) {
	in := scanClientFrames(data)

	var running atomic.Int32 // handlers running
	srv := &Server{
		Handler: HandlerFunc(func(st *Stream) {
			running.Add(1)
			defer running.Add(-1)
			v.handler(st)
		}),
		Logger: slog.New(slog.DiscardHandler),
	}
	v.configure(srv)

	// Collecting garbage to measure the heap, and listing goroutines, cost
	// more than the rest of a run, so while fuzzing only some runs do.
	measure := !fuzzing() || len(data) >= 4096 || fuzzRuns.Add(1)%16 == 0
	var before runtime.MemStats
	var existing map[uint64]bool
	if measure {
		existing = make(map[uint64]bool)
		for _, g := range goroutineStacks() {
			existing[g.id] = true
		}
		runtime.GC()
		runtime.ReadMemStats(&before)
	}

	sc, cc := newPipe()
	served := make(chan error, 1)
	go func() { served <- srv.ServeConn(sc) }()
	peer := newFuzzPeer(cc)

	var preface bytes.Buffer
	preface.WriteString(clientPreface)
	http2.NewFramer(&preface, nil).WriteSettings()
	cc.Write(preface.Bytes())
	cc.Write(data)
	synctest.Wait()

	// The server still reads and answers, or it ended the connection. An
	// input that stops inside a frame leaves the server rightly waiting
	// for the rest, where our PING would land.
	if in.whole && !peer.isClosed() {
		var ping bytes.Buffer
		http2.NewFramer(&ping, nil).WritePing(false, fuzzPing)
		cc.Write(ping.Bytes())
		synctest.Wait()
		if !peer.isClosed() && !peer.sawPingAck() {
			t.Fatalf("%s: the server neither answered a PING nor closed the connection", v.name)
		}
	}

	// Memory: what the connection holds now, with its streams possibly
	// still open, is proportionate to the input. (Header lists are
	// bounded per stream, and streams by the concurrency limits.)
	if measure {
		var during runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&during)
		if grew := int64(during.HeapInuse) - int64(before.HeapInuse); grew > 64<<20+32*int64(len(data)) {
			t.Fatalf("%s: heap in use grew by %d bytes for %d bytes of input", v.name, grew, len(data))
		}
	}

	// The client hangs up: the connection must end and take every one of
	// its goroutines with it.
	cc.CloseWrite()
	select {
	case <-served:
	case <-time.After(time.Minute):
		t.Fatalf("%s: ServeConn still running a minute after the client closed", v.name)
	}
	<-peer.done
	synctest.Wait()
	if n := running.Load(); n != 0 {
		t.Fatalf("%s: %d handlers still running after the connection ended", v.name, n)
	}
	if measure {
		// Everything is blocked now: a goroutine of the package that is
		// still there waits for nothing that will come (synctest.Test
		// would report it too, unless it waits for a timer).
		if left := packageGoroutines(existing); len(left) > 0 {
			t.Fatalf("%s: %d goroutines outlived the connection:\n\n%s", v.name, len(left), strings.Join(left, "\n\n"))
		}
	}
	cc.Close()

	peer.mu.Lock()
	defer peer.mu.Unlock()
	if peer.err != nil {
		t.Fatalf("%s: the server sent something invalid: %v", v.name, peer.err)
	}
	if limit := 64<<10 + 16*int64(len(data)); peer.bytes > limit {
		t.Fatalf("%s: the server sent %d bytes for %d bytes of input", v.name, peer.bytes, len(data))
	}
	for id, n := range peer.data {
		if id == 0 {
			if credit := 65535 + in.connCredit; n > credit {
				t.Fatalf("%s: the server sent %d bytes of DATA; the client granted at most %d", v.name, n, credit)
			}
			continue
		}
		if credit := in.streamCredit[id]; n > credit {
			t.Fatalf("%s: the server sent %d bytes of DATA on stream %d; the client granted at most %d", v.name, n, id, credit)
		}
	}
	for id := range peer.streams {
		if id%2 == 0 || id > in.maxHeadersID {
			t.Fatalf("%s: the server sent HEADERS or DATA on stream %d, which the client never opened (highest: %d)", v.name, id, in.maxHeadersID)
		}
	}
}

// clientFrames is what the client's bytes could have done, read the way
// the server reads them: upper bounds, since the server may stop early.
type clientFrames struct {
	whole        bool             // the input ends at a frame boundary
	maxHeadersID uint32           // highest stream of a HEADERS frame
	connCredit   int64            // sum of connection WINDOW_UPDATE increments
	streamCredit map[uint32]int64 // per stream: the largest initial window it saw, plus its increments
}

func scanClientFrames(p []byte) clientFrames {
	cf := clientFrames{streamCredit: make(map[uint32]int64)}
	// A stream's window is SETTINGS_INITIAL_WINDOW_SIZE as it is now
	// (changes apply to open streams) plus its increments, less what was
	// sent; so a stream may receive at most the largest initial window in
	// force while it existed, plus its increments.
	initial := int64(65535)
	var opened []uint32 // streams, in the order they opened
	var settings []int64
	var openedAt []int // per opened stream: how many settings came before
	for len(p) >= 9 {
		length := int(p[0])<<16 | int(p[1])<<8 | int(p[2])
		typ, flags := http2.FrameType(p[3]), http2.Flags(p[4])
		id := binary.BigEndian.Uint32(p[5:9]) & (1<<31 - 1)
		if length > 16384 {
			// Beyond our MAX_FRAME_SIZE: the server stops reading here.
			p = nil
			break
		}
		if len(p) < 9+length {
			break
		}
		payload := p[9 : 9+length]
		p = p[9+length:]
		switch typ {
		case http2.FrameHeaders:
			if id > cf.maxHeadersID {
				cf.maxHeadersID = id
				cf.streamCredit[id] += initial
				opened = append(opened, id)
				openedAt = append(openedAt, len(settings))
			}
		case http2.FrameWindowUpdate:
			if length == 4 {
				incr := int64(binary.BigEndian.Uint32(payload) & (1<<31 - 1))
				if id == 0 {
					cf.connCredit += incr
				} else {
					cf.streamCredit[id] += incr
				}
			}
		case http2.FrameSettings:
			if flags&http2.FlagSettingsAck == 0 && length%6 == 0 && id == 0 {
				for s := payload; len(s) >= 6; s = s[6:] {
					if http2.SettingID(binary.BigEndian.Uint16(s)) == http2.SettingInitialWindowSize {
						initial = int64(binary.BigEndian.Uint32(s[2:]))
						settings = append(settings, initial)
					}
				}
			}
		}
	}
	cf.whole = len(p) == 0
	// Add to each stream what the largest later initial window had over
	// the one it opened with.
	suffixMax := make([]int64, len(settings)+1)
	suffixMax[len(settings)] = -1
	for i := len(settings) - 1; i >= 0; i-- {
		suffixMax[i] = max(settings[i], suffixMax[i+1])
	}
	for i, id := range opened {
		atOpen := int64(65535)
		if k := openedAt[i]; k > 0 {
			atOpen = settings[k-1]
		}
		if m := suffixMax[openedAt[i]]; m > atOpen {
			cf.streamCredit[id] += m - atOpen
		}
	}
	return cf
}

// fuzzPeer is the client's reading side: it parses every frame the server
// sends, as a client would, and keeps what the invariants need.
type fuzzPeer struct {
	done chan struct{} // closed when the server's side ended

	mu      sync.Mutex
	bytes   int64            // bytes the server sent
	closed  bool             // the server ended its side
	err     error            // the first invalid frame
	pingAck bool             // fuzzPing came back
	data    map[uint32]int64 // DATA bytes per stream, and their total under 0
	streams map[uint32]bool  // streams the server sent HEADERS or DATA on
}

type countingReader struct {
	r io.Reader
	p *fuzzPeer
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.mu.Lock()
	c.p.bytes += int64(n)
	c.p.mu.Unlock()
	return n, err
}

func newFuzzPeer(cc *pipeConn) *fuzzPeer {
	p := &fuzzPeer{done: make(chan struct{}), data: make(map[uint32]int64), streams: make(map[uint32]bool)}
	fr := http2.NewFramer(nil, countingReader{cc, p})
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	go func() {
		defer close(p.done)
		for {
			f, err := fr.ReadFrame()
			p.mu.Lock()
			if err != nil {
				p.closed = true
				var ce http2.ConnectionError
				var se http2.StreamError
				if errors.As(err, &ce) || errors.As(err, &se) {
					p.err = fmt.Errorf("%v (%v)", err, fr.ErrorDetail())
				}
				p.mu.Unlock()
				return
			}
			switch f := f.(type) {
			case *http2.PingFrame:
				if f.IsAck() && f.Data == fuzzPing {
					p.pingAck = true
				}
			case *http2.DataFrame:
				p.data[f.StreamID] += int64(f.Length)
				p.data[0] += int64(f.Length)
				p.streams[f.StreamID] = true
			case *http2.MetaHeadersFrame:
				p.streams[f.StreamID] = true
			}
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *fuzzPeer) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *fuzzPeer) sawPingAck() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pingAck
}

// FuzzParseRequest checks parseRequest and parseTrailers against an
// independent reading of RFC 9113 sections 8.2, 8.3 and 8.5, and RFC 8441
// section 4 when extended CONNECT is on: each input is checked with it
// off and on.
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("\x07:method\x07CONNECT\x09:protocol\x09websocket\x07:scheme\x05https\x05:path\x01/\x0a:authority\x01a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fields := decodeFuzzFields(data)
		for _, extended := range []bool{false, true} {
			in := slices.Clone(fields)
			req, reason := parseRequest(in, extended)
			if !slices.Equal(in, fields) {
				t.Fatalf("parseRequest modified its input")
			}
			want, why := wellFormedRequest(fields, extended)
			switch {
			case reason == "" && !want:
				t.Fatalf("extended CONNECT %v: accepted a malformed request (%s): %q", extended, why, fields)
			case reason != "" && want:
				t.Fatalf("extended CONNECT %v: rejected a well-formed request (%s): %q", extended, reason, fields)
			case reason != "":
				if !isReasonToken(reason) {
					t.Fatalf("reason %q is not a short token", reason)
				}
			default:
				checkParsedRequest(t, fields, &req)
			}
		}

		trailers, treason := parseTrailers(slices.Clone(fields))
		twant, twhy := wellFormedTrailers(fields)
		switch {
		case treason == "" && !twant:
			t.Fatalf("accepted malformed trailers (%s): %q", twhy, fields)
		case treason != "" && twant:
			t.Fatalf("rejected well-formed trailers (%s): %q", treason, fields)
		case treason == "":
			n := 0
			for _, vs := range trailers {
				n += len(vs)
			}
			if n != len(fields) {
				t.Fatalf("trailers hold %d values, want %d: %v", n, len(fields), trailers)
			}
		}
	})
}

// decodeFuzzFields reads a header list: each field is a length byte and a
// name, then a length byte and a value; a short tail is taken as is.
func decodeFuzzFields(p []byte) []hpack.HeaderField {
	next := func() string {
		if len(p) == 0 {
			return ""
		}
		n := min(int(p[0]), len(p)-1)
		s := string(p[1 : 1+n])
		p = p[1+n:]
		return s
	}
	var fields []hpack.HeaderField
	for len(p) > 0 && len(fields) < 64 {
		name := next()
		fields = append(fields, hpack.HeaderField{Name: name, Value: next()})
	}
	return fields
}

const lowerTokenChars = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"

// fieldNameOK: RFC 9110 section 5.1 (a token) and RFC 9113 section
// 8.2.1 (no uppercase).
func fieldNameOK(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range []byte(name) {
		if strings.IndexByte(lowerTokenChars, r) < 0 {
			return false
		}
	}
	return true
}

// fieldValueOK: RFC 9113 section 8.2.1.
func fieldValueOK(v string) bool {
	if strings.ContainsAny(v, "\x00\r\n") {
		return false
	}
	return !strings.HasPrefix(v, " ") && !strings.HasPrefix(v, "\t") &&
		!strings.HasSuffix(v, " ") && !strings.HasSuffix(v, "\t")
}

// regularFieldOK: a valid field that HTTP/2 allows (RFC 9113 section 8.2.2).
func regularFieldOK(f hpack.HeaderField) (bool, string) {
	switch {
	case !fieldNameOK(f.Name):
		return false, "invalid name"
	case !fieldValueOK(f.Value):
		return false, "invalid value"
	}
	switch f.Name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		return false, "connection-specific field"
	case "te":
		if f.Value != "trailers" {
			return false, "te other than trailers"
		}
	}
	return true, ""
}

// wellFormedRequest is RFC 9113 sections 8.2, 8.3 and 8.5 (and 8.1.1 on
// content-length), and with extended RFC 8441 section 4, as this server
// applies them, written independently of headers.go.
func wellFormedRequest(fields []hpack.HeaderField, extended bool) (bool, string) {
	pseudo := map[string][]string{}
	regularSeen := false
	var cls []string
	for _, f := range fields {
		if strings.HasPrefix(f.Name, ":") {
			if regularSeen {
				return false, "pseudo-header after a regular field"
			}
			switch f.Name {
			case ":method", ":scheme", ":authority", ":path":
			case ":protocol":
				if !extended {
					return false, ":protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL"
				}
			default:
				return false, "not a request pseudo-header"
			}
			if len(pseudo[f.Name]) > 0 {
				return false, "repeated pseudo-header"
			}
			if !fieldValueOK(f.Value) {
				return false, "invalid pseudo-header value"
			}
			pseudo[f.Name] = append(pseudo[f.Name], f.Value)
			continue
		}
		regularSeen = true
		if ok, why := regularFieldOK(f); !ok {
			return false, why
		}
		if f.Name == "content-length" {
			cls = append(cls, f.Value)
		}
	}
	for _, cl := range cls {
		if cl == "" || len(cl) > 18 || strings.Trim(cl, "0123456789") != "" || cl != cls[0] {
			return false, "invalid content-length"
		}
	}
	get := func(name string) (string, bool) {
		v := pseudo[name]
		if len(v) == 0 {
			return "", false
		}
		return v[0], true
	}
	method, _ := get(":method")
	scheme, hasScheme := get(":scheme")
	path, hasPath := get(":path")
	authority, _ := get(":authority")
	protocol, hasProtocol := get(":protocol")
	if method == "" {
		return false, "no :method"
	}
	if hasProtocol && (method != "CONNECT" || protocol == "") {
		return false, ":protocol on a request other than CONNECT, or empty"
	}
	tunnel := method == "CONNECT" && !hasProtocol
	if tunnel {
		if hasScheme || hasPath || authority == "" {
			return false, "CONNECT with :scheme or :path, or without :authority"
		}
	} else {
		if scheme == "" || path == "" {
			return false, "no :scheme or no :path"
		}
		if (scheme == "http" || scheme == "https") && path[0] != '/' && (path != "*" || method != "OPTIONS") {
			return false, "http(s) :path neither absolute nor OPTIONS *"
		}
	}
	var hosts []string
	for _, f := range fields {
		if f.Name == "host" {
			hosts = append(hosts, f.Value)
		}
	}
	if len(hosts) > 1 {
		return false, "more than one host"
	}
	eff := authority
	if len(hosts) == 1 {
		if authority == "" {
			eff = hosts[0]
		} else if hosts[0] != authority {
			return false, "host differs from :authority"
		}
	}
	return authorityOK(eff, scheme, tunnel)
}

// authorityOK is RFC 3986 section 3.2 with RFC 9113 sections 8.3.1
// and 8.5 and RFC 9110 section 4.2.1, by regular expression.
func authorityOK(a, scheme string, connect bool) (bool, string) {
	if a == "" {
		return true, ""
	}
	m := authorityRE.FindStringSubmatch(a)
	if m == nil {
		return false, "not an RFC 3986 authority"
	}
	host, port := m[2], m[3]
	httpish := scheme == "http" || scheme == "https"
	if strings.Contains(a, "@") && (connect || httpish) {
		return false, "userinfo"
	}
	if strings.HasPrefix(host, "[") {
		lit := host[1 : len(host)-1]
		ip := net.ParseIP(lit)
		if !ipFutureRE.MatchString(lit) && (ip == nil || ip.To4() != nil && !strings.Contains(lit, ":") || strings.Contains(lit, "%")) {
			return false, "bad IP-literal"
		}
	}
	if connect && (host == "" || len(port) < 2) {
		return false, "CONNECT without host and port"
	}
	if !connect && httpish && host == "" {
		return false, "empty host"
	}
	return true, ""
}

var (
	authorityRE = regexp.MustCompile(`^(?:((?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*)@)?(\[[^\]]*\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(:[0-9]*)?$`)
	ipFutureRE  = regexp.MustCompile(`^[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+$`)
)

func wellFormedTrailers(fields []hpack.HeaderField) (bool, string) {
	for _, f := range fields {
		if strings.HasPrefix(f.Name, ":") {
			return false, "pseudo-header in trailers"
		}
		if ok, why := regularFieldOK(f); !ok {
			return false, why
		}
	}
	return true, ""
}

// checkParsedRequest checks that an accepted request says what its
// fields said.
func checkParsedRequest(t *testing.T, fields []hpack.HeaderField, req *Request) {
	t.Helper()
	var method, scheme, authority, path, protocol, host string
	var regular []hpack.HeaderField
	cl := int64(-1)
	for _, f := range fields {
		switch f.Name {
		case ":method":
			method = f.Value
		case ":scheme":
			scheme = f.Value
		case ":authority":
			authority = f.Value
		case ":path":
			path = f.Value
		case ":protocol":
			protocol = f.Value
		default:
			regular = append(regular, f)
			switch f.Name {
			case "host":
				host = f.Value
			case "content-length":
				n, err := strconv.ParseInt(f.Value, 10, 64)
				if err != nil {
					t.Fatalf("accepted content-length %q", f.Value)
				}
				cl = n
			}
		}
	}
	if authority == "" {
		authority = host
	}
	if req.Method != method || req.Scheme != scheme || req.Authority != authority || req.Path != path || req.Protocol != protocol {
		t.Fatalf("request %q %q %q %q %q, want %q %q %q %q %q from %q",
			req.Method, req.Scheme, req.Authority, req.Path, req.Protocol, method, scheme, authority, path, protocol, fields)
	}
	if req.ContentLength != cl {
		t.Fatalf("ContentLength %d, want %d", req.ContentLength, cl)
	}
	if !slices.Equal(req.Fields, regular) {
		t.Fatalf("Fields %q, want the regular fields %q", req.Fields, regular)
	}
	h := req.Header()
	var cookies []string
	for _, f := range regular {
		if f.Name == "cookie" {
			cookies = append(cookies, f.Value)
			continue
		}
		if !slices.Contains(h[textproto.CanonicalMIMEHeaderKey(f.Name)], f.Value) {
			t.Fatalf("Header() lacks %s: %q: %v", f.Name, f.Value, h)
		}
	}
	if len(cookies) > 0 && h.Get("Cookie") != strings.Join(cookies, "; ") {
		t.Fatalf("Header() cookie %q, want %q", h.Get("Cookie"), strings.Join(cookies, "; "))
	}
	for k := range h {
		if k != textproto.CanonicalMIMEHeaderKey(k) {
			t.Fatalf("Header() key %q is not canonical", k)
		}
	}
}

func isReasonToken(s string) bool {
	return s != "" && len(s) <= 64 && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == ""
}
