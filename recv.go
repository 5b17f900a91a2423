package h2server

import (
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"slices"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The reader's handling of each frame type (RFC 9113 section 6).

// lookup returns the stream for id, or nil when it is idle or closed;
// idle reports whether the client never opened it. Even IDs are the
// server's (RFC 9113 section 5.1.1), and we open none: they are all idle.
// Reader only.
func (c *conn) lookup(id uint32) (st *Stream, idle bool) {
	if id > c.lastStreamID || id%2 == 0 {
		// A new stream, as most HEADERS open: no stream has an ID above
		// lastStreamID, which only the reader writes (openStream), and so
		// may read without mu.
		return nil, true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[id], false
}

// afterReset judges a frame on a closed stream (n bytes of DATA, or a
// header block with n 0) against the record of streams we reset
// (reset.go). known reports whether we reset the stream lately: then the
// frame is dropped, quietly if it could have crossed our RST_STREAM,
// against the glitch budget if not. A stream we did not reset gets a
// STREAM_CLOSED from the caller. Reader only.
func (c *conn) afterReset(id, n uint32, end bool) (known bool, err error) {
	c.mu.Lock()
	known, honest := c.resets.inFlight(id, n, end)
	c.mu.Unlock()
	if !known || honest {
		return known, nil
	}
	return true, c.glitch("frame_after_reset")
}

func (c *conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		c.onSettingsAck()
		return nil
	}
	if f.NumSettings() > c.cfg.maxSettingsPerFrame {
		return connError{ErrCodeEnhanceYourCalm, "too_many_settings"}
	}
	it := writeItem{kind: itemPeerSettings, n: c.rd.peerInitialWindow}
	windowChanged := false
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			var ce http2.ConnectionError
			errors.As(err, &ce)
			return connError{ErrCode(ce), "invalid_setting_" + s.ID.String()}
		}
		if s.ID == http2.SettingInitialWindowSize && s.Val != c.rd.peerInitialWindow {
			c.rd.peerInitialWindow = s.Val
			windowChanged = true
		}
		it.settings = append(it.settings, s)
		return nil
	})
	if err != nil {
		return err
	}
	if windowChanged {
		// The writer adjusts the windows of streams open now; streams
		// opened later start from the new value (newStream).
		c.mu.Lock()
		for _, st := range c.streams {
			it.streams = append(it.streams, st)
		}
		c.mu.Unlock()
	}
	c.wq.push(it)
	return nil
}

// onSettingsAck takes the client's acknowledgement of our SETTINGS: the
// SETTINGS_INITIAL_WINDOW_SIZE we announced now holds. Before it, the
// client may send the default 65,535 bytes on a stream (RFC 9113 section
// 6.9.2), so a smaller window of ours starts only now, for the streams
// already open too; their windows may go negative, as the section
// allows for a lowered window.
func (c *conn) onSettingsAck() {
	c.mu.Lock()
	if c.life.settingsTimer != nil {
		c.life.settingsTimer.Stop()
		c.life.settingsTimer = nil
	}
	var open []*Stream
	if !c.rd.settingsAcked && c.cfg.initialStreamWindow < defaultWindow {
		open = make([]*Stream, 0, len(c.streams))
		for _, st := range c.streams {
			open = append(open, st)
		}
	}
	c.mu.Unlock()
	if !c.rd.settingsAcked {
		// The round trip windows grow by (recvwin.go); 0, unknown, keeps
		// them as they are.
		c.srtt.Store(nowMicros() - c.settingsAt)
	}
	c.rd.settingsAcked = true
	delta := c.cfg.initialStreamWindow - defaultWindow
	for _, st := range open {
		st.recv.mu.Lock()
		st.recv.flow.avail += delta
		st.recv.mu.Unlock()
	}
}

// recvWindowStart is the receive window a new stream starts with: ours,
// once the client acknowledged it, and until then at least the default
// the client may assume. Reader only.
func (c *conn) recvWindowStart() int32 {
	if c.rd.settingsAcked {
		return c.cfg.initialStreamWindow
	}
	return max(c.cfg.initialStreamWindow, defaultWindow)
}

func (c *conn) onPing(f *http2.PingFrame) error {
	if f.IsAck() {
		switch f.Data {
		case shutdownPingData:
			c.finishShutdown()
		case keepalivePingData:
			c.onKeepaliveAck()
		}
		return nil
	}
	if err := c.judgePing(); err != nil {
		return err
	}
	c.wq.push(writeItem{kind: itemPingAck, data: f.Data})
	return nil
}

func (c *conn) onGoAway(f *http2.GoAwayFrame) error {
	c.mu.Lock()
	if f.ErrCode != http2.ErrCodeNo && c.rareLocked().peerErr == nil {
		// What streams still open see when the connection ends.
		c.life.rare.peerErr = &ConnectionError{Code: ErrCode(f.ErrCode), Remote: true, Reason: string(f.DebugData())}
	}
	// The client opens no more streams; the ones it has finish, then we close.
	c.goAwayLocked()
	c.mu.Unlock()
	if f.ErrCode != http2.ErrCodeNo {
		c.logger().Info("h2server: peer sent GOAWAY", "code", ErrCode(f.ErrCode), "debug", string(f.DebugData()))
	}
	return nil
}

func (c *conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	if f.StreamID == 0 {
		c.wq.push(writeItem{kind: itemPeerWindow, n: f.Increment})
		return nil
	}
	st, idle := c.lookup(f.StreamID)
	if idle {
		return connError{ErrCodeProtocol, "window_update_on_idle_stream"}
	}
	if st != nil {
		c.wq.push(writeItem{kind: itemPeerWindow, st: st, n: f.Increment})
	}
	// On a closed stream WINDOW_UPDATE is ignored (section 6.9).
	return nil
}

func (c *conn) onRSTStream(f *http2.RSTStreamFrame) error {
	st, idle := c.lookup(f.StreamID)
	if idle {
		return connError{ErrCodeProtocol, "rst_stream_on_idle_stream"}
	}
	if st == nil {
		return nil
	}
	// Fail first, so that the stream's end is reported (Hooks.StreamEnded)
	// with the client's reset as its error.
	st.fail(&StreamError{StreamID: st.id, Code: ErrCode(f.ErrCode), Remote: true})
	c.transition(st, evReset)
	// A client that opens streams and resets them at once makes us start
	// work for nothing (CVE-2023-44487, "rapid reset"): its HEADERS and
	// RST_STREAM arrive together, before the handler could do anything.
	// Cancelling a call that ran (gRPC's deadline, a user navigating
	// away) moves the application forward and costs nothing.
	if st.recv.openedFill == c.rd.br.fills || c.queued(st) {
		return c.glitch("client_reset")
	}
	return nil
}

// queued reports whether st still waits for a handler slot.
func (c *conn) queued(st *Stream) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queues != nil && slices.Contains(c.queues.pending, st)
}

func (c *conn) onPriority(f *http2.PriorityFrame) error {
	// Section 5.3.1: a stream cannot depend on itself. Priorities are
	// otherwise ignored, as RFC 9113 deprecates this scheme.
	if f.StreamDep == f.StreamID {
		return c.streamFailed(streamError{f.StreamID, ErrCodeProtocol, "priority_self_dependency"})
	}
	// A stream of PRIORITY frames is work for nothing.
	return c.glitch("priority")
}

// readData handles a DATA frame straight from the connection's read
// buffer: its payload is copied once, into the stream's receive buffer,
// not first into the Framer's. fh came from ReadFrameHeader, which checked
// its size against MAX_FRAME_SIZE and its place among CONTINUATION frames;
// the payload is always consumed unless the connection fails.
func (c *conn) readData(fh http2.FrameHeader) error {
	if !c.rd.gotSettings {
		return connError{ErrCodeProtocol, "preface_not_settings"}
	}
	if fh.StreamID == 0 {
		return connError{ErrCodeProtocol, "invalid_data"} // section 6.1
	}
	rest, pad := int(fh.Length), 0
	if fh.Flags.Has(http2.FlagDataPadded) {
		if rest == 0 {
			return connError{ErrCodeFrameSize, "short_data"}
		}
		b, err := c.rd.br.ReadByte()
		if err != nil {
			return err
		}
		rest, pad = rest-1, int(b)
		if pad > rest {
			// Section 6.1: padding as long as the payload or longer.
			return connError{ErrCodeProtocol, "invalid_data"}
		}
	}
	dataLen := rest - pad
	end := fh.Flags.Has(http2.FlagDataEndStream)
	st, err := c.admitData(fh.StreamID, fh.Length, dataLen, end)
	if err != nil {
		return err
	}
	held := 0 // payload bytes left in the stream's buffer for its handler
	for n := dataLen; n > 0; {
		p, err := c.rd.br.next(n)
		if err != nil {
			return err
		}
		n -= len(p)
		if st != nil {
			held += st.appendData(p)
		}
	}
	for pad > 0 {
		p, err := c.rd.br.next(pad)
		if err != nil {
			return err
		}
		pad -= len(p)
	}
	c.creditData(int(fh.Length)-held, held)
	if st == nil {
		return nil
	}
	if end {
		st.endBody(nil)
		c.transition(st, evRecvEndStream)
		return nil
	}
	if dataLen == 0 {
		// Empty DATA without END_STREAM (padding only, or nothing) moves
		// no request forward.
		return c.glitch("empty_data")
	}
	return nil
}

// admitData applies flow control and the stream's state to a DATA frame
// of n bytes (dataLen of them data) before its payload is read. It
// returns the stream to deliver the payload to, or nil to discard it
// after a stream error; an error is the connection's.
func (c *conn) admitData(id, n uint32, dataLen int, end bool) (*Stream, error) {
	if !c.rd.inflow.take(n) { // payload and padding both count (section 6.9.1)
		return nil, connError{ErrCodeFlowControl, "conn_window_exceeded"}
	}
	st, idle := c.lookup(id)
	if idle {
		return nil, connError{ErrCodeProtocol, "data_on_idle_stream"}
	}
	if st == nil {
		// Section 5.1: DATA that crossed our RST_STREAM is ignored;
		// section 6.1: on a stream closed otherwise, STREAM_CLOSED.
		if known, err := c.afterReset(id, n, end); known {
			return nil, err
		}
		return nil, c.streamFailed(streamError{id, ErrCodeStreamClosed, "data_on_closed_stream"})
	}
	c.mu.Lock()
	canRecv := st.state.canRecv()
	c.mu.Unlock()
	if !canRecv {
		return nil, c.streamFailed(streamError{id, ErrCodeStreamClosed, "data_after_end_stream"})
	}
	st.recv.mu.Lock()
	if !st.recv.flow.take(n) {
		st.recv.mu.Unlock()
		return nil, c.streamFailed(streamError{id, ErrCodeFlowControl, "stream_window_exceeded"})
	}
	st.recv.n += int64(dataLen)
	cl := st.req.ContentLength
	overrun := cl >= 0 && st.recv.n > cl
	short := end && cl >= 0 && st.recv.n != cl
	// Padding goes back to the peer now. DATA nobody will read (after
	// CancelRead, or once the stream failed) does not: the client's
	// window runs out, and the reset that follows the response tells it
	// to stop; crediting it would invite a body we only throw away.
	give := int(n) - dataLen
	var incr, connIncr uint32
	if give > 0 && st.recv.err == nil {
		incr, connIncr = st.creditLocked(give)
	}
	st.recv.mu.Unlock()
	c.sendCredit(st, incr, connIncr)
	if overrun || short {
		// Section 8.1.1: content-length must match the DATA received.
		return nil, c.streamFailed(streamError{id, ErrCodeProtocol, "content_length_mismatch"})
	}
	return st, nil
}

// readHeaders handles a HEADERS frame (RFC 9113 section 6.2) straight
// from the connection's read buffer, as readData does DATA: the Framer
// would allocate a HeadersFrame for every request. fh came from
// ReadFrameHeader, which checked its size and its place among
// CONTINUATION frames. The fragment goes to headerFragment in the pieces
// the read buffer holds (which assembles them); the errors are the
// Framer's.
func (c *conn) readHeaders(fh http2.FrameHeader) error {
	if !c.rd.gotSettings {
		return connError{ErrCodeProtocol, "preface_not_settings"}
	}
	if fh.StreamID == 0 {
		return connError{ErrCodeProtocol, "invalid_headers"}
	}
	rest, pad := int(fh.Length), 0
	if fh.Flags.Has(http2.FlagHeadersPadded) {
		if rest < 1 {
			return connError{ErrCodeFrameSize, "short_headers"}
		}
		b, err := c.rd.br.ReadByte()
		if err != nil {
			return err
		}
		rest, pad = rest-1, int(b)
	}
	var prio *http2.PriorityParam
	var pp http2.PriorityParam
	if fh.Flags.Has(http2.FlagHeadersPriority) {
		if rest < 5 {
			return connError{ErrCodeFrameSize, "short_headers"}
		}
		var b [5]byte
		for i := range b {
			var err error
			if b[i], err = c.rd.br.ReadByte(); err != nil {
				return err
			}
		}
		v := binary.BigEndian.Uint32(b[:4])
		pp = http2.PriorityParam{StreamDep: v & (1<<31 - 1), Exclusive: v>>31 == 1, Weight: b[4]}
		prio, rest = &pp, rest-5
	}
	if pad > rest {
		// Padding as long as the rest of the payload or longer.
		return connError{ErrCodeProtocol, "invalid_headers"}
	}
	if err := c.onHeaders(fh.StreamID, fh.Flags.Has(http2.FlagHeadersEndStream), prio); err != nil {
		return err
	}
	end := fh.Flags.Has(http2.FlagHeadersEndHeaders)
	n := rest - pad
	if n == 0 {
		if err := c.headerFragment(nil, end); err != nil {
			return err
		}
	}
	for n > 0 {
		p, err := c.rd.br.next(n)
		if err != nil {
			return err
		}
		n -= len(p)
		if err := c.headerFragment(p, end && n == 0); err != nil {
			return err
		}
	}
	for pad > 0 {
		p, err := c.rd.br.next(pad)
		if err != nil {
			return err
		}
		pad -= len(p)
	}
	return nil
}

// onHeaders starts a header block, a new request or trailers, with the
// fields of its HEADERS frame; headerFragment takes the fragments.
func (c *conn) onHeaders(id uint32, endStream bool, prio *http2.PriorityParam) error {
	if id%2 == 0 {
		return connError{ErrCodeProtocol, "even_stream_id"}
	}
	c.rd.br.hdr = headerBlock{id: id, endStream: endStream, fields: c.rd.br.hdr.fields[:0]}
	if prio != nil {
		c.rd.br.hdr.priority = *prio
	}
	st, idle := c.lookup(id)
	if !idle {
		if st == nil {
			// A closed stream: the block is decoded all the same, to keep
			// HPACK state in step, then judged (onClosedHeaders).
			c.rd.br.hdr.closed = true
		} else {
			c.mu.Lock()
			canRecv := st.state.canRecv()
			c.mu.Unlock()
			// After the client's END_STREAM (half-closed (remote)) this is a
			// stream error (section 5.1), answered once the block is decoded,
			// so that HPACK state stays in step and other streams carry on.
			c.rd.br.hdr.trailerOf, c.rd.br.hdr.afterEnd = st, !canRecv
		}
	}
	return nil
}

func (c *conn) onContinuation(f *http2.ContinuationFrame) error {
	if len(f.HeaderBlockFragment()) == 0 && !f.HeadersEnded() {
		if err := c.glitch("empty_continuation"); err != nil {
			return err
		}
	}
	return c.headerFragment(f.HeaderBlockFragment(), f.HeadersEnded())
}

// checkContinuation bounds a header block by frame count and encoded
// size before the next CONTINUATION payload is even read.
func (c *conn) checkContinuation(fh http2.FrameHeader) error {
	c.rd.br.hdr.frames++
	if c.rd.br.hdr.frames > c.cfg.maxContinuationFrames {
		return connError{ErrCodeEnhanceYourCalm, "too_many_continuation_frames"}
	}
	if c.rd.br.hdr.bytes+int(fh.Length) > c.cfg.maxHeaderBlockBytes {
		return connError{ErrCodeEnhanceYourCalm, "header_block_too_large"}
	}
	return nil
}

// newDecoder makes the connection's HPACK decoder, at its first header
// block: a connection opened ahead of need, which never sends a request,
// keeps none. Its dynamic table starts empty as the peer's encoder's
// does, at the 4,096 bytes we never change (RFC 7541 section 4.2).
func (c *conn) newDecoder() *decoder {
	d := hpack.NewDecoder(4096, c.onField)
	d.SetMaxStringLength(int(c.cfg.maxHeaderListSize))
	return &decoder{hd: d}
}

func (c *conn) headerFragment(frag []byte, end bool) error {
	hdr := &c.rd.br.hdr
	hdr.bytes += len(frag)
	if hdr.bytes > c.cfg.maxHeaderBlockBytes {
		return connError{ErrCodeEnhanceYourCalm, "header_block_too_large"}
	}
	if c.rd.hdec == nil {
		c.rd.hdec = c.newDecoder()
	}
	d := c.rd.hdec
	// The decoder gets whole blocks only: one that comes in pieces (it
	// straddles reads, or goes on in CONTINUATION frames) is assembled
	// first. Given a piece that ends inside a field, x/net's decoder
	// would keep that field's bytes and the next piece in a buffer of
	// its own, and keep the buffer's array, as large as the largest
	// such field, for the connection's life (4 KiB for a 6 KB cookie
	// read through a 4 KiB buffer, 32 KiB for a 30 KB one split by a
	// CONTINUATION frame), parked or not. The memo (hpackmemo.go) needs
	// whole blocks too.
	block := frag
	if !end || len(d.scratch) > 0 {
		d.scratch = append(d.scratch, frag...)
		if !end {
			return nil
		}
		block = d.scratch
	}
	defer d.doneBlock()
	request := !hdr.closed && hdr.trailerOf == nil
	if request {
		if m := d.lookup(block); m != nil {
			hdr.size = m.size
			defer func() { c.rd.br.hdr.id = 0 }()
			return c.openStream(hdr, m)
		}
	}
	d.pinned = true // (see decoder.unpin)
	if _, err := d.hd.Write(block); err != nil {
		return connError{ErrCodeCompression, "hpack_decode"}
	}
	// Decoding a whole block costs at most a step per byte, however
	// many fields it emits: the size bound comes after it.
	if hdr.size > hpackBombFactor*c.cfg.maxHeaderListSize {
		return connError{ErrCodeEnhanceYourCalm, "hpack_bomb"}
	}
	if err := d.hd.Close(); err != nil {
		return connError{ErrCodeCompression, "hpack_truncated"}
	}
	m := d.decoded(block, request, hdr)
	defer func() { c.rd.br.hdr.id = 0 }()
	if hdr.closed {
		return c.onClosedHeaders(hdr)
	}
	if hdr.trailerOf != nil {
		return c.onTrailers(hdr)
	}
	return c.openStream(hdr, m)
}

// onClosedHeaders judges a field block for a closed stream. A request
// reusing the stream ID is a connection error (section 5.1.1: "The
// identifier of a newly established stream MUST be numerically greater
// than all streams that the initiating endpoint has opened"). Anything
// else is taken for trailers that crossed our RST_STREAM, which section
// 5.1 has us discard: like DATA on a closed stream, they get STREAM_CLOSED
// and the connection carries on.
func (c *conn) onClosedHeaders(hdr *headerBlock) error {
	for _, f := range hdr.fields {
		if f.IsPseudo() {
			return connError{ErrCodeProtocol, "stream_id_not_increasing"}
		}
	}
	if known, err := c.afterReset(hdr.id, 0, true); known {
		return err
	}
	return c.streamFailed(streamError{hdr.id, ErrCodeStreamClosed, "headers_on_closed_stream"})
}

// onField receives each decoded field. Past MaxHeaderListSize, fields are
// still decoded, to keep the HPACK table in step with the peer's, but no
// longer kept.
func (c *conn) onField(f hpack.HeaderField) {
	c.rd.br.hdr.size += f.Size()
	if c.rd.br.hdr.size > c.cfg.maxHeaderListSize {
		c.rd.br.hdr.tooLarge = true
		return
	}
	c.rd.br.hdr.fields = append(c.rd.br.hdr.fields, f)
}

// hpackBombFactor: a header block that decodes to this many times
// MaxHeaderListSize is no oversized request but an HPACK bomb (a few bytes
// of references to a large table entry), and ends the connection.
const hpackBombFactor = 4

func (c *conn) onTrailers(hdr *headerBlock) error {
	st := hdr.trailerOf
	if hdr.afterEnd {
		return c.streamFailed(streamError{st.id, ErrCodeStreamClosed, "headers_after_end_stream"})
	}
	if st.req.isTunnel() {
		// Section 8.5: "Frame types other than DATA or stream management
		// frames (RST_STREAM, WINDOW_UPDATE, and PRIORITY) MUST NOT be
		// sent on a connected stream and MUST be treated as a stream
		// error if received."
		return c.streamFailed(streamError{st.id, ErrCodeProtocol, "headers_on_connect_stream"})
	}
	if !hdr.endStream {
		// Section 8.1: trailers end the stream.
		return c.streamFailed(streamError{st.id, ErrCodeProtocol, "trailers_without_end_stream"})
	}
	if hdr.tooLarge {
		return c.streamFailed(streamError{st.id, ErrCodeProtocol, "trailers_too_large"})
	}
	trailers, reason := parseTrailers(hdr.fields)
	if reason != "" {
		return c.streamFailed(streamError{st.id, ErrCodeProtocol, reason})
	}
	st.recv.mu.Lock()
	cl, recvd := st.req.ContentLength, st.recv.n
	st.recv.mu.Unlock()
	if cl >= 0 && cl != recvd {
		return c.streamFailed(streamError{st.id, ErrCodeProtocol, "content_length_mismatch"})
	}
	st.endBody(trailers)
	c.transition(st, evRecvEndStream)
	return nil
}

// openStream admits a new request stream and starts its handler. m is
// the block's memo entry, if it has one (hpackmemo.go): then its fields
// are m's, and hdr.fields is not filled.
func (c *conn) openStream(hdr *headerBlock, m *blockMemo) error {
	id := hdr.id
	c.mu.Lock()
	c.lastStreamID = id
	refused := c.life.goingAway && id > c.life.goAwayID
	full := uint32(len(c.streams)) >= c.cfg.maxConcurrentStreams
	c.mu.Unlock()
	if refused {
		// Section 6.8: the client may retry this stream on a new
		// connection. Its body may be on the way already.
		c.noteReset(id, !hdr.endStream)
		c.wq.push(writeItem{kind: itemReset, id: id, code: ErrCodeRefusedStream})
		return nil
	}
	if hdr.priority.StreamDep == id {
		return c.refuse(streamError{id, ErrCodeProtocol, "priority_self_dependency"}, hdr)
	}
	if full {
		return c.refuse(streamError{id, ErrCodeRefusedStream, "max_concurrent_streams"}, hdr)
	}
	if hdr.tooLarge {
		// RFC 9113 section 10.5.1: answer 431 rather than a reset the
		// client would retry.
		c.logStreamError(id, ErrCodeNo, "header_list_too_large")
		st := c.newStream(id, Request{ContentLength: -1, RemoteAddr: c.info.RemoteAddr, TLS: c.info.TLS}, hdr.endStream)
		st.reject = http.StatusRequestHeaderFieldsTooLarge
		if h := c.cfg.hooks.StreamStarted; h != nil {
			h(st.info()) // as every stream StreamEnded will report
		}
		if err := c.startHandler(st); err != nil {
			return err
		}
		return c.glitch("header_list_too_large")
	}
	var req Request
	var reason string
	switch {
	case m == nil:
		req, reason = parseRequest(hdr.fields, c.cfg.enableConnectProtocol)
	case m.parsed:
		req, reason = m.req, m.reason
	default:
		// req.Fields is a slice of m.fields, which never change.
		req, reason = parseRequest(m.fields, c.cfg.enableConnectProtocol)
		m.req, m.reason, m.parsed = req, reason, true
	}
	if reason != "" {
		// Section 8.1.1: a malformed request is a stream error.
		return c.refuse(streamError{id, ErrCodeProtocol, reason}, hdr)
	}
	if hdr.endStream && req.ContentLength > 0 {
		return c.refuse(streamError{id, ErrCodeProtocol, "content_length_mismatch"}, hdr)
	}
	req.RemoteAddr = c.info.RemoteAddr
	req.TLS = c.info.TLS
	st := c.makeStream(id, req, hdr.endStream)
	if h := c.cfg.hooks.StreamStarted; h != nil {
		c.addStream(st)
		h(st.info())
		return c.startHandler(st)
	}
	// No hook to run between: the stream enters the table and gets its
	// handler in one lock section.
	c.mu.Lock()
	c.addStreamLocked(st)
	ok := c.startHandlerLocked(st)
	c.mu.Unlock()
	if !ok {
		return c.handlerQueueFull(st)
	}
	return nil
}

// refuse answers a request we will not serve with a stream error; the
// body the client may have sent after it is dropped quietly (reset.go).
func (c *conn) refuse(se streamError, hdr *headerBlock) error {
	c.noteReset(se.StreamID, !hdr.endStream)
	return c.streamFailed(se)
}

// noteReset records a stream we reset before it was ever in the table;
// with body, the client may still send a stream window of DATA on it.
func (c *conn) noteReset(id uint32, body bool) {
	var credit int32
	if body {
		credit = c.recvWindowStart()
	}
	c.mu.Lock()
	c.resets.add(id, credit, c.cfg.maxResetStreams())
	c.mu.Unlock()
}

// newStream makes a stream for a request and enters it in the table.
func (c *conn) newStream(id uint32, req Request, endStream bool) *Stream {
	st := c.makeStream(id, req, endStream)
	c.addStream(st)
	return st
}

// makeStream makes a stream for a request, not yet shared. Reader only.
func (c *conn) makeStream(id uint32, req Request, endStream bool) *Stream {
	c.rd.streamSincePark = true
	// A park refused in an earlier idle spell (epoll unavailable for
	// the moment, park.go) is tried again when this one ends.
	c.rd.parkFailed = false
	st := &Stream{
		c:     c,
		id:    id,
		req:   req,
		state: stateOpen,
		recv:  recvHalf{flow: inflow{avail: c.recvWindowStart()}, win: c.cfg.initialStreamWindow, updAt: c.rd.readAt},
	}
	// Read from the reader's array, which decoding just touched, not
	// from the copy below.
	prio := requestPriority(req.Fields)
	// The reader keeps req.Fields' array for its next header block.
	if n := len(req.Fields); n <= len(st.fieldBuf) {
		copy(st.fieldBuf[:], req.Fields)
		st.req.Fields = st.fieldBuf[:n:n]
	} else {
		st.req.Fields = append([]hpack.HeaderField(nil), req.Fields...)
	}
	st.recv.openedFill = c.rd.br.fills
	st.out = outStream{window: outflow(c.rd.peerInitialWindow), prio: prio}
	st.window.Store(int32(c.rd.peerInitialWindow))
	if c.cfg.hooks.StreamStarted != nil || c.cfg.hooks.StreamEnded != nil {
		st.extras = &streamExtras{started: time.Since(processStart)}
	}
	c.live.Add(1) // dropped by the stream's last release
	if endStream {
		st.recv.err = io.EOF
		st.state = stateHalfClosedRemote
	}
	return st
}

// addStream enters st in the table.
func (c *conn) addStream(st *Stream) {
	c.mu.Lock()
	c.addStreamLocked(st)
	c.mu.Unlock()
}

// addStreamLocked enters st in the table; mu held.
func (c *conn) addStreamLocked(st *Stream) {
	if c.streams == nil {
		c.streams = make(map[uint32]*Stream)
	}
	c.streams[st.id] = st
	c.nstreams.Store(int32(len(c.streams)))
	c.disarmIdleLocked()
	c.startKeepaliveLocked()
}
