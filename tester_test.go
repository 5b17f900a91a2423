package h2server

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// serverTester drives one server connection frame by frame from the
// client side, over an in-memory pipe, inside a testing/synctest bubble:
// after synctest.Wait every server goroutine is idle, so "the server sent
// nothing" is an assertion, not a timeout.
type serverTester struct {
	t      testing.TB
	srv    *Server
	cc     *pipeConn // client end
	sc     *pipeConn // server end
	fr     *http2.Framer
	enc    *hpack.Encoder
	encBuf bytes.Buffer
	calls  chan *handlerCall
	called map[uint32]*handlerCall // calls taken off the channel, by stream
	quit   chan struct{}
	served chan error
	logs   *logBuffer
}

// handlerCall is a handler invocation paused for the test: the test acts
// on st from its own goroutine, then releases the handler, which returns.
type handlerCall struct {
	st      *Stream
	release chan struct{}
}

// newServerTester starts a server connection. A nil handler pauses each
// request for the test (see nextCall). It must run inside synctest.Test.
func newServerTester(t testing.TB, h Handler, opts ...func(*Server)) *serverTester {
	t.Helper()
	tst := &serverTester{
		t:      t,
		calls:  make(chan *handlerCall, 1000),
		called: make(map[uint32]*handlerCall),
		quit:   make(chan struct{}),
		served: make(chan error, 1),
		logs:   &logBuffer{},
	}
	if h == nil {
		h = HandlerFunc(func(st *Stream) {
			call := &handlerCall{st: st, release: make(chan struct{})}
			tst.calls <- call
			select {
			case <-call.release:
			case <-tst.quit:
			}
		})
	}
	tst.srv = &Server{
		Handler: h,
		Logger:  slog.New(slog.NewTextHandler(tst.logs, nil)),
	}
	for _, o := range opts {
		o(tst.srv)
	}
	tst.connect()
	t.Cleanup(func() {
		close(tst.quit)
		tst.cc.Close()
		synctest.Wait()
	})
	return tst
}

// connect starts a server connection over a new pipe, with the client's
// Framer and HPACK encoder.
func (tst *serverTester) connect() {
	tst.sc, tst.cc = newPipe()
	tst.fr = http2.NewFramer(tst.cc, tst.cc)
	tst.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	tst.fr.MaxHeaderListSize = 1 << 20
	tst.enc = hpack.NewEncoder(&tst.encBuf)
	go func() { tst.served <- tst.srv.ServeConn(tst.sc) }()
}

// greet does the connection preface both ways and checks the server's
// SETTINGS. Client settings may be given.
func (tst *serverTester) greet(settings ...http2.Setting) {
	tst.t.Helper()
	tst.writePreface()
	tst.fr.WriteSettings(settings...)
	sf := wantFrame[*http2.SettingsFrame](tst)
	if sf.IsAck() {
		tst.t.Fatalf("first server frame is a SETTINGS ACK, want its SETTINGS")
	}
	f := tst.readFrame()
	if _, ok := f.(*http2.WindowUpdateFrame); ok {
		f = tst.readFrame()
	}
	if sf, ok := f.(*http2.SettingsFrame); !ok || !sf.IsAck() {
		tst.t.Fatalf("got %v, want SETTINGS ACK", summarize(f))
	}
	tst.fr.WriteSettingsAck()
}

func (tst *serverTester) writePreface() {
	tst.cc.Write([]byte(clientPreface))
}

// readFrame returns the next frame the server sent, or nil if it sent
// nothing more for now.
func (tst *serverTester) readFrame() http2.Frame {
	tst.t.Helper()
	synctest.Wait()
	if tst.cc.buffered() == 0 {
		return nil
	}
	f, err := tst.fr.ReadFrame()
	if err != nil {
		tst.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// wantFrame reads the next frame and checks its type.
func wantFrame[T http2.Frame](tst *serverTester) T {
	tst.t.Helper()
	f := tst.readFrame()
	got, ok := f.(T)
	if !ok {
		var want T
		tst.t.Fatalf("got frame %v, want %T", summarize(f), want)
	}
	return got
}

func summarize(f http2.Frame) string {
	switch f := f.(type) {
	case nil:
		return "none"
	case *http2.RSTStreamFrame:
		return "RST_STREAM stream=" + itoa(f.StreamID) + " code=" + f.ErrCode.String()
	case *http2.GoAwayFrame:
		return "GOAWAY last=" + itoa(f.LastStreamID) + " code=" + f.ErrCode.String() + " debug=" + string(f.DebugData())
	case *http2.MetaHeadersFrame:
		return "HEADERS stream=" + itoa(f.StreamID) + " " + fieldsString(f.Fields)
	case *http2.DataFrame:
		return "DATA stream=" + itoa(f.StreamID) + " len=" + itoa(uint32(len(f.Data())))
	}
	return f.Header().String()
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

func fieldsString(fs []hpack.HeaderField) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, f.Name+"="+f.Value)
	}
	return strings.Join(parts, " ")
}

func (tst *serverTester) wantIdle() {
	tst.t.Helper()
	if f := tst.readFrame(); f != nil {
		tst.t.Fatalf("server sent %v, want nothing", summarize(f))
	}
}

func (tst *serverTester) wantSettingsAck() {
	tst.t.Helper()
	if sf := wantFrame[*http2.SettingsFrame](tst); !sf.IsAck() {
		tst.t.Fatalf("got SETTINGS, want SETTINGS ACK")
	}
}

func (tst *serverTester) wantRSTStream(id uint32, code ErrCode) {
	tst.t.Helper()
	f := wantFrame[*http2.RSTStreamFrame](tst)
	if f.StreamID != id || ErrCode(f.ErrCode) != code {
		tst.t.Fatalf("got %v, want RST_STREAM stream=%d code=%v", summarize(f), id, code)
	}
}

// wantGoAway expects GOAWAY with code, then the end of the connection.
func (tst *serverTester) wantGoAway(code ErrCode) *http2.GoAwayFrame {
	tst.t.Helper()
	f := wantFrame[*http2.GoAwayFrame](tst)
	if ErrCode(f.ErrCode) != code {
		tst.t.Fatalf("got %v, want GOAWAY code=%v", summarize(f), code)
	}
	return f
}

// wantClosed expects the server to have closed its side.
func (tst *serverTester) wantClosed() {
	tst.t.Helper()
	synctest.Wait()
	if !tst.cc.readClosed() {
		if f := tst.readFrame(); f != nil {
			tst.t.Fatalf("server sent %v, want the connection closed", summarize(f))
		}
		tst.t.Fatalf("connection still open, want it closed")
	}
}

func (tst *serverTester) wantHeaders(id uint32, endStream bool) *http2.MetaHeadersFrame {
	tst.t.Helper()
	f := wantFrame[*http2.MetaHeadersFrame](tst)
	if f.StreamID != id || f.StreamEnded() != endStream {
		tst.t.Fatalf("got %v end_stream=%v, want HEADERS stream=%d end_stream=%v", summarize(f), f.StreamEnded(), id, endStream)
	}
	return f
}

// wantData reads a DATA frame of stream id carrying body. With endStream,
// the stream must end there: on that frame, or on an empty DATA frame
// right after it, when the handler's end reached the writer after the
// body had gone (which one is up to the scheduler; both are right).
func (tst *serverTester) wantData(id uint32, endStream bool, body string) {
	tst.t.Helper()
	f := wantFrame[*http2.DataFrame](tst)
	if f.StreamID != id || string(f.Data()) != body || f.StreamEnded() && !endStream {
		tst.t.Fatalf("got %v end_stream=%v %q, want DATA stream=%d end_stream=%v %q",
			summarize(f), f.StreamEnded(), f.Data(), id, endStream, body)
	}
	if endStream && !f.StreamEnded() {
		g := wantFrame[*http2.DataFrame](tst)
		if g.StreamID != id || !g.StreamEnded() || len(g.Data()) != 0 {
			tst.t.Fatalf("after DATA stream=%d %q without END_STREAM, got %v end_stream=%v %q, want an empty DATA with END_STREAM",
				id, body, summarize(g), g.StreamEnded(), g.Data())
		}
	}
}

func (tst *serverTester) wantWindowUpdate(id, incr uint32) {
	tst.t.Helper()
	f := wantFrame[*http2.WindowUpdateFrame](tst)
	if f.StreamID != id || f.Increment != incr {
		tst.t.Fatalf("got WINDOW_UPDATE stream=%d incr=%d, want stream=%d incr=%d", f.StreamID, f.Increment, id, incr)
	}
}

// response is a whole response read off the wire.
type response struct {
	status   string
	header   []hpack.HeaderField
	body     string
	trailers []hpack.HeaderField
}

// wantResponse reads frames of stream id until END_STREAM, failing on
// frames of other streams.
func (tst *serverTester) wantResponse(id uint32) response {
	tst.t.Helper()
	var r response
	var body bytes.Buffer
	for {
		switch f := tst.readFrame().(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				tst.t.Fatalf("got %v, want frames of stream %d", summarize(f), id)
			}
			if r.status == "" || strings.HasPrefix(r.status, "1") {
				r.status = f.PseudoValue("status")
				r.header = f.RegularFields()
			} else {
				r.trailers = f.RegularFields()
			}
			if f.StreamEnded() {
				r.body = body.String()
				return r
			}
		case *http2.DataFrame:
			if f.StreamID != id {
				tst.t.Fatalf("got %v, want frames of stream %d", summarize(f), id)
			}
			body.Write(f.Data())
			if f.StreamEnded() {
				r.body = body.String()
				return r
			}
		default:
			tst.t.Fatalf("got %v while reading the response of stream %d", summarize(f), id)
		}
	}
}

// encode builds a header block from name, value pairs, in order.
func (tst *serverTester) encode(kv ...string) []byte {
	tst.encBuf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		tst.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return bytes.Clone(tst.encBuf.Bytes())
}

// reqFields returns the pseudo-header fields of a request followed by extra.
func reqFields(method, path string, extra ...string) []string {
	return append([]string{":method", method, ":scheme", "https", ":authority", "example.com", ":path", path}, extra...)
}

// writeHeaders sends one HEADERS frame with the fields kv.
func (tst *serverTester) writeHeaders(id uint32, endStream bool, kv ...string) {
	tst.t.Helper()
	err := tst.fr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: tst.encode(kv...), EndStream: endStream, EndHeaders: true,
	})
	if err != nil {
		tst.t.Fatal(err)
	}
}

// get sends a GET request without a body on stream id.
func (tst *serverTester) get(id uint32, path string) {
	tst.writeHeaders(id, true, reqFields("GET", path)...)
}

// call returns the paused handler invocation of stream id.
func (tst *serverTester) call(id uint32) *handlerCall {
	tst.t.Helper()
	synctest.Wait()
	for {
		select {
		case c := <-tst.calls:
			tst.called[c.st.id] = c
			continue
		default:
		}
		break
	}
	c, ok := tst.called[id]
	if !ok {
		tst.t.Fatalf("no handler was called for stream %d", id)
	}
	delete(tst.called, id)
	return c
}

// wantNoCall checks that no handler started since the last look.
func (tst *serverTester) wantNoCall() {
	tst.t.Helper()
	synctest.Wait()
	select {
	case c := <-tst.calls:
		tst.t.Fatalf("handler called for stream %d, want no call", c.st.id)
	default:
	}
}

// wantResponses reads frames until every stream in ids has ended,
// whatever the interleaving, and returns their responses.
func (tst *serverTester) wantResponses(ids ...uint32) map[uint32]*response {
	tst.t.Helper()
	rs := make(map[uint32]*response)
	bodies := make(map[uint32]*bytes.Buffer)
	for _, id := range ids {
		rs[id] = &response{}
		bodies[id] = &bytes.Buffer{}
	}
	open := len(ids)
	for open > 0 {
		f := tst.readFrame()
		if f == nil {
			tst.t.Fatalf("server went quiet with %d responses unfinished", open)
		}
		r := rs[f.Header().StreamID]
		if r == nil {
			tst.t.Fatalf("got %v, want frames of streams %v", summarize(f), ids)
		}
		ended := false
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if r.status == "" || strings.HasPrefix(r.status, "1") {
				r.status = f.PseudoValue("status")
				r.header = f.RegularFields()
			} else {
				r.trailers = f.RegularFields()
			}
			ended = f.StreamEnded()
		case *http2.DataFrame:
			bodies[f.StreamID].Write(f.Data())
			ended = f.StreamEnded()
		default:
			tst.t.Fatalf("got %v while reading responses", summarize(f))
		}
		if ended {
			r.body = bodies[f.Header().StreamID].String()
			open--
		}
	}
	return rs
}

// readAll reads a stream's body from the test goroutine.
func readAll(t testing.TB, st *Stream) string {
	t.Helper()
	b, err := io.ReadAll(st)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return string(b)
}

// wantStreamError checks that err is a *StreamError with code.
func wantStreamError(t testing.TB, err error, code ErrCode) {
	t.Helper()
	var se *StreamError
	if !errors.As(err, &se) || se.Code != code {
		t.Fatalf("got error %v, want a stream error with %v", err, code)
	}
}

// run is synctest.Test, named for the reader.
func run(t *testing.T, f func(t *testing.T)) { synctest.Test(t, f) }

// readInBackground starts a Read of st on a goroutine of its own and
// returns the channel its error arrives on.
func readInBackground(st *Stream) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, err := st.Read(make([]byte, 10))
		ch <- err
	}()
	return ch
}
