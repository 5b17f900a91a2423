package h2server

// The client side of the invariant test (invariant_test.go): what the
// client sent and granted, what it knows of the server, and the checks of
// every frame the server wrote (RFC 9113 sections 5.1, 6.9 and 8.1).

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

type invViolation struct {
	step      int
	kind, msg string
}

// invStream is one stream: the client's side, the client's knowledge of
// the server's, the server's side as read off the wire, and its handler.
type invStream struct {
	id      uint32
	method  string
	openSeq int // client SETTINGS sent before the stream opened

	// The client's side.
	cEnd, cRST         bool
	cEndStep, cRSTStep int
	cSent              int64 // request body bytes
	cWin               int64 // what the server lets us send, as far as we know
	kEnd, kRST         bool  // the client knows of the server's END_STREAM, RST_STREAM

	// The server's side, from the wire.
	final, sEnd, sRST bool
	status            int
	rstCode           http2.ErrCode
	rstAt             time.Time // the server wrote its RST_STREAM after this (fake time)
	body, declared    int64     // response body bytes; content-length, -1 if none
	win               int64     // the server's send window on the stream

	h *invHandler
}

// closedForClient: the client may send nothing more but PRIORITY.
func (s *invStream) closedForClient() bool { return s.cRST || s.kRST || s.cEnd && s.kEnd }

func (s *invStream) noBody() bool { return s.method == "HEAD" || s.status == 204 || s.status == 304 }

// invNews is a server frame the client has read but not yet taken in.
type invNews struct {
	kind byte // 'e' END_STREAM, 'r' RST_STREAM, 'w' WINDOW_UPDATE, 'g' GOAWAY
	id   uint32
	n    int64
}

type invSettings struct{ iws, mfs uint32 }

type invRun struct {
	lastRead   time.Time // when readFrames last ran: what it reads next was written since
	t          *testing.T
	cfg        invConfig
	srv        *Server
	c          *conn
	cc, sc     *pipeConn
	fr         *http2.Framer
	in         bytes.Buffer // read from cc, not yet framed
	enc        *hpack.Encoder
	encBuf     bytes.Buffer
	served     chan error
	reg        chan *invHandler
	handlers   []*invHandler // every handler registered, resumed ones too
	results    chan invResult
	goroutines map[uint64]bool // alive before the run
	logs       *logBuffer

	mu                         sync.Mutex // guards what hooks write
	activity                   int
	started, ended, connClosed int
	rejected                   []string

	streams           map[uint32]*invStream
	order             []uint32
	nextID            uint32
	step              int
	decided           int // the earliest step at which the frames now read were decided
	stalled           bool
	stallStep         int
	srvClosed, broken bool
	hungUp            bool // the client closed the connection
	generated         bool // steps come from generate, not a script
	connFailed        bool

	// The client's knowledge of the server, as of its last sync.
	news          []invNews
	kConnWin      int64
	kGoAway       bool
	srvIWS        int64
	srvMaxFrame   uint32
	srvMaxStreams uint32
	sentGoAway    bool

	// What the client granted the server.
	connWin         int64
	pending         []invSettings // sent, not yet acknowledged
	iws, mfs        uint32        // acknowledged
	lastIWS         uint32        // sent last
	sentSeq, ackSeq int
	pings           int
	gotGoAway       bool
	goAwayID        uint32
	trace           []string
	viol            []invViolation
	skip            map[string]bool
	swarm           [len(invWeights)]int // the run's factors of invWeights
}

func newInvRun(t *testing.T, cfg invConfig) *invRun {
	r := &invRun{
		t: t, cfg: cfg, logs: &logBuffer{},
		served: make(chan error, 1), reg: make(chan *invHandler, 100), results: make(chan invResult, 1000),
		goroutines: map[uint64]bool{}, skip: map[string]bool{}, streams: map[uint32]*invStream{},
		nextID: 1, step: -1, kConnWin: 65535, connWin: 65535, srvIWS: 65535, srvMaxFrame: 16384,
		srvMaxStreams: 1<<32 - 1, iws: 65535, mfs: 16384, lastIWS: 65535,
	}
	for _, g := range goroutineStacks() {
		r.goroutines[g.id] = true
	}
	for _, k := range strings.Split(*invSkip+","+os.Getenv("INVARIANTS_SKIP"), ",") {
		r.skip[k] = true
	}
	count := func(p *int) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.activity++
		if p != nil {
			*p++
		}
	}
	hooks := &Hooks{Rejected: func(rj *Rejection) {
		count(nil)
		r.mu.Lock()
		r.rejected = append(r.rejected, fmt.Sprintf("stream=%d %v %s", rj.StreamID, rj.Code, rj.Reason))
		r.mu.Unlock()
	}}
	if cfg.Hooks {
		hooks.ConnOpened = func(*ConnInfo) { count(nil) }
		hooks.ConnClosed = func(*ConnInfo) { count(&r.connClosed) }
		hooks.StreamStarted = func(*StreamInfo) { count(&r.started) }
		hooks.StreamEnded = func(*StreamInfo) { count(&r.ended) }
		hooks.FrameRead = func(*ConnInfo, http2.FrameHeader) { count(nil) }
		hooks.FrameWritten = func(*ConnInfo, http2.FrameHeader) { count(nil) }
	}
	r.srv = &Server{
		Handler:                 HandlerFunc(r.serveStream),
		Logger:                  slog.New(slog.NewTextHandler(r.logs, nil)),
		MaxConcurrentStreams:    cfg.MaxStreams,
		InitialStreamWindowSize: cfg.StreamWin,
		InitialConnWindowSize:   cfg.ConnWin,
		Hooks:                   hooks,
		// The driver pings as often as it likes: the PING policy
		// (pings.go) is a limit, not an invariant.
		MinPingInterval: -1,
		// Armed, never reached: checkGone sees the age timer stopped.
		MaxConnectionAge: 24 * time.Hour,
	}
	r.sc, r.cc = newPipe()
	r.fr = http2.NewFramer(r.cc, &r.in)
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	r.fr.MaxHeaderListSize = 1 << 20
	r.enc = hpack.NewEncoder(&r.encBuf)
	go func() { r.served <- r.srv.ServeConn(r.sc) }()
	r.tracef("greet: client SETTINGS INITIAL_WINDOW_SIZE=%d MAX_FRAME_SIZE=%d", cfg.ClientIWS, cfg.ClientMFS)
	r.cc.Write([]byte(clientPreface))
	r.sendSettings(cfg.ClientIWS, cfg.ClientMFS)
	r.settle()
	r.takeIn()
	r.srv.mu.Lock()
	for c := range r.srv.conns {
		r.c = c
	}
	r.srv.mu.Unlock()
	r.c.mu.Lock()
	r.c.workers.maxBusy = cfg.MaxBusy
	r.c.mu.Unlock()
	// A 50 ms round trip: in the bubble every read keeps up, so receive
	// windows grow (recvwin.go) wherever the driver reads.
	r.c.srtt.Store(50_000)
	return r
}

func (r *invRun) tracef(format string, args ...any) {
	r.trace = append(r.trace, fmt.Sprintf(format, args...))
}

func (r *invRun) violate(kind, format string, args ...any) {
	if r.skip[kind] {
		return
	}
	msg := fmt.Sprintf(format, args...)
	r.viol = append(r.viol, invViolation{r.step, kind, msg})
	r.tracef("\t!! %s: %s", kind, msg)
}

func http2ErrCode(n int) http2.ErrCode { return http2.ErrCode(n) }

func (r *invRun) headersParam(id uint32, end bool, kv ...string) http2.HeadersFrameParam {
	r.encBuf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		r.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return http2.HeadersFrameParam{StreamID: id, BlockFragment: bytes.Clone(r.encBuf.Bytes()), EndStream: end, EndHeaders: true}
}

func (r *invRun) sendSettings(iws, mfs uint32) {
	r.fr.WriteSettings(
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: iws},
		http2.Setting{ID: http2.SettingMaxFrameSize, Val: mfs},
		http2.Setting{ID: http2.SettingEnablePush, Val: 0})
	r.pending = append(r.pending, invSettings{iws, mfs})
	r.lastIWS = iws
	r.sentSeq++
}

// openStreams counts the streams open as far as the client knows.
func (r *invRun) openStreams() int {
	n := 0
	for _, st := range r.streams {
		if !st.closedForClient() {
			n++
		}
	}
	return n
}

// takeIn makes what the client read from the server known to it.
func (r *invRun) takeIn() {
	for _, n := range r.news {
		st := r.streams[n.id]
		switch n.kind {
		case 'e':
			st.kEnd = true
		case 'r':
			st.kRST = true
		case 'w':
			if st == nil {
				r.kConnWin += n.n
			} else {
				st.cWin += n.n
			}
		case 'g':
			r.kGoAway = true
		}
	}
	r.news = r.news[:0]
}

// readFrames reads and checks every whole frame the server wrote.
func (r *invRun) readFrames() {
	defer func() {
		if !r.stalled { // while stalled, the server's writes wait: they may be older
			r.lastRead = time.Now()
		}
	}()
	if n := r.cc.buffered(); n > 0 {
		p := make([]byte, n)
		n, _ = r.cc.Read(p)
		r.in.Write(p[:n])
	}
	for !r.broken && invFrameReady(r.in.Bytes()) {
		f, err := r.fr.ReadFrame()
		if err != nil {
			r.violate("unparseable", "reading a frame: %v", err)
			r.broken = true
			return
		}
		r.onFrame(f)
	}
	if r.cc.readClosed() {
		r.srvClosed = true
	}
}

// invFrameReady reports whether b starts with a whole frame (with its
// CONTINUATION frames, for HEADERS).
func invFrameReady(b []byte) bool {
	for {
		if len(b) < 9 {
			return false
		}
		n := 9 + (int(b[0])<<16 | int(b[1])<<8 | int(b[2]))
		if len(b) < n {
			return false
		}
		typ, flags := http2.FrameType(b[3]), http2.Flags(b[4])
		if typ != http2.FrameHeaders && typ != http2.FrameContinuation || flags.Has(http2.FlagHeadersEndHeaders) {
			return true
		}
		b = b[n:]
	}
}

func invFrameString(f http2.Frame) string {
	fh := f.Header()
	s := fmt.Sprintf("%s %d", fh.Type, fh.StreamID)
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		s += " " + fieldsString(f.Fields)
	case *http2.DataFrame:
		s += fmt.Sprintf(" len=%d", len(f.Data()))
	case *http2.RSTStreamFrame:
		s += " " + f.ErrCode.String()
	case *http2.WindowUpdateFrame:
		s += fmt.Sprintf(" +%d", f.Increment)
	case *http2.GoAwayFrame:
		s += fmt.Sprintf(" last=%d %v %q", f.LastStreamID, f.ErrCode, f.DebugData())
	case *http2.SettingsFrame:
		f.ForeachSetting(func(st http2.Setting) error { s += " " + st.String(); return nil })
	}
	if fh.Flags&1 != 0 {
		switch fh.Type {
		case http2.FrameData, http2.FrameHeaders:
			s += " es"
		case http2.FrameSettings, http2.FramePing:
			s += " ack"
		}
	}
	return s
}

func (r *invRun) onFrame(f http2.Frame) {
	fh := f.Header()
	r.tracef("\t<- %s", invFrameString(f))
	if id := fh.StreamID; id != 0 {
		if st := r.streams[id]; st != nil {
			r.onStreamFrame(st, f)
		} else {
			r.violate("idle_stream", "%s on stream %d, which the client never opened", fh.Type, id)
		}
		return
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() {
			f.ForeachSetting(func(s http2.Setting) error {
				switch s.ID {
				case http2.SettingInitialWindowSize:
					r.srvIWS = int64(s.Val)
				case http2.SettingMaxFrameSize:
					r.srvMaxFrame = s.Val
				case http2.SettingMaxConcurrentStreams:
					r.srvMaxStreams = s.Val
				}
				return nil
			})
			r.fr.WriteSettingsAck()
			return
		}
		if len(r.pending) == 0 {
			r.violate("settings", "a SETTINGS ACK with no SETTINGS to acknowledge")
			return
		}
		// RFC 9113 section 6.9.2: the server applied the new
		// INITIAL_WINDOW_SIZE to the streams open when it read the
		// SETTINGS, before it wrote the ACK; later streams started with it.
		p := r.pending[0]
		r.pending = r.pending[1:]
		r.ackSeq++
		for _, st := range r.streams {
			if st.openSeq < r.ackSeq {
				st.win += int64(p.iws) - int64(r.iws)
			}
		}
		r.iws, r.mfs = p.iws, p.mfs
	case *http2.WindowUpdateFrame:
		r.news = append(r.news, invNews{kind: 'w', n: int64(f.Increment)})
	case *http2.PingFrame:
		if !f.IsAck() {
			r.fr.WritePing(true, f.Data)
			return
		}
		if r.pings--; r.pings < 0 || f.Data != [8]byte{'i', 'n', 'v'} {
			r.violate("ping", "a PING ACK %q that answers no PING", f.Data)
		}
	case *http2.GoAwayFrame:
		if f.ErrCode != http2.ErrCodeNo {
			r.connFailed = true
			r.violate("conn_error", "GOAWAY %v %q: a connection error from a legal client", f.ErrCode, f.DebugData())
		}
		if r.gotGoAway && f.LastStreamID > r.goAwayID {
			r.violate("goaway", "GOAWAY last stream %d after GOAWAY %d", f.LastStreamID, r.goAwayID)
		}
		r.gotGoAway, r.goAwayID = true, f.LastStreamID
		r.news = append(r.news, invNews{kind: 'g'})
	default:
		r.violate("frame", "unexpected %s on stream 0", fh.Type)
	}
}

// onStreamFrame checks a frame of st against what came before on the
// stream (RFC 9113 section 5.1) and takes it in.
func (r *invRun) onStreamFrame(st *invStream, f http2.Frame) {
	fh := f.Header()
	isData := fh.Type == http2.FrameData || fh.Type == http2.FrameHeaders
	end := isData && fh.Flags&1 != 0
	switch {
	case st.sRST && fh.Type == http2.FrameRSTStream && time.Since(st.rstAt) >= resetMemory &&
		f.(*http2.RSTStreamFrame).ErrCode == http2.ErrCodeStreamClosed:
		// The server remembers the streams it reset for resetMemory
		// (reset.go); a client that sends on one later is told again.
	case st.sRST && fh.Type == http2.FrameRSTStream:
		r.violate("rst_twice", "a second RST_STREAM on stream %d (the first: %v)", st.id, st.rstCode)
	case st.sEnd && end:
		r.violate("end_stream_twice", "%s with END_STREAM on stream %d, which had ended", fh.Type, st.id)
	case st.sRST:
		r.violate("frame_after_rst", "%s on stream %d after its RST_STREAM", fh.Type, st.id)
	case st.sEnd && isData:
		r.violate("frame_after_end_stream", "%s on stream %d after its END_STREAM", fh.Type, st.id)
	case st.sEnd && st.cEnd && st.cEndStep < r.decided:
		// Section 5.1: after END_STREAM the server may still send
		// RST_STREAM and WINDOW_UPDATE while the client's side is open
		// (half-closed (local)); once both sides ended, nothing.
		r.violate("closed_stream", "%s on stream %d, closed by END_STREAM both ways (the client's at step %d)", fh.Type, st.id, st.cEndStep)
	case st.cRST && st.cRSTStep < r.decided:
		r.violate("frame_after_peer_rst", "%s on stream %d after the server had read the client's RST_STREAM (step %d)", fh.Type, st.id, st.cRSTStep)
	}
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		status := f.PseudoValue("status")
		switch {
		case status != "" && st.final:
			r.violate("headers", "a second final response head on stream %d", st.id)
		case status != "" && status[0] == '1':
			if end {
				r.violate("headers", "END_STREAM on informational head %s, stream %d", status, st.id)
			}
		case status != "":
			st.final = true
			st.status, _ = strconv.Atoi(status)
			for _, hf := range f.RegularFields() {
				if hf.Name == "content-length" {
					st.declared, _ = strconv.ParseInt(hf.Value, 10, 64)
				}
			}
		case !st.final:
			r.violate("headers", "a field block without :status before the response head, stream %d", st.id)
		case !end:
			r.violate("headers", "trailers without END_STREAM on stream %d", st.id)
		}
	case *http2.DataFrame:
		r.onData(st, f)
	case *http2.RSTStreamFrame:
		if !st.sRST {
			st.sRST, st.rstCode, st.rstAt = true, f.ErrCode, r.lastRead
			r.news = append(r.news, invNews{kind: 'r', id: st.id})
		}
	case *http2.WindowUpdateFrame:
		r.news = append(r.news, invNews{kind: 'w', id: st.id, n: int64(f.Increment)})
	case *http2.PriorityFrame:
	default:
		r.violate("frame", "unexpected %s on stream %d", fh.Type, st.id)
	}
	if end && !st.sEnd && !st.sRST {
		r.serverEnd(st)
	}
}

// onData checks a DATA frame against the windows the client granted
// (section 6.9, 6.9.2: they may be negative after SETTINGS) and against
// the response the handler wrote.
func (r *invRun) onData(st *invStream, f *http2.DataFrame) {
	n := int64(f.Length)
	if !st.final && !st.sEnd && !st.sRST {
		r.violate("headers", "DATA before the response head on stream %d", st.id)
	}
	if n > 0 && n > st.win {
		r.violate("stream_window", "DATA of %d bytes on stream %d, whose window is %d", n, st.id, st.win)
	}
	if n > 0 && n > r.connWin {
		r.violate("conn_window", "DATA of %d bytes on stream %d; the connection's window is %d", n, st.id, r.connWin)
	}
	if n > int64(r.mfs) {
		r.violate("frame_size", "DATA of %d bytes, above MAX_FRAME_SIZE %d", n, r.mfs)
	}
	st.win -= n
	r.connWin -= n
	if st.sEnd || st.sRST {
		return
	}
	data := f.Data()
	if len(data) > 0 && st.noBody() {
		r.violate("body", "%d body bytes on stream %d, a response without a body (%s, status %d)", len(data), st.id, st.method, st.status)
	}
	for i, b := range data {
		if want := respByte(st.id, st.body+int64(i)); b != want {
			r.violate("content", "byte %d of stream %d's body is %#x, the handler wrote %#x", st.body+int64(i), st.id, b, want)
			break
		}
	}
	st.body += int64(len(data))
}

// serverEnd takes in the server's END_STREAM: the body must be what the
// handler wrote, and what it declared.
func (r *invRun) serverEnd(st *invStream) {
	st.sEnd = true
	r.news = append(r.news, invNews{kind: 'e', id: st.id})
	want := int64(-1)
	if st.noBody() {
		want = 0
	} else if st.h != nil {
		want = st.h.written
	}
	if want >= 0 && st.body != want {
		r.violate("body", "stream %d ended after %d body bytes; the handler's Writes took %d", st.id, st.body, want)
	}
	if st.declared >= 0 && !st.noBody() && st.body != st.declared {
		r.violate("body", "stream %d ended after %d body bytes; its content-length is %d", st.id, st.body, st.declared)
	}
}
