// Package h2server is an HTTP/2 server (RFC 9113, with HPACK, RFC 7541)
// that accepts its own connections: TLS connections that negotiated "h2"
// with ALPN, and cleartext TCP connections whose clients speak HTTP/2
// with prior knowledge (h2c). Frames are read and written with
// golang.org/x/net/http2's Framer and header blocks with its hpack
// package; everything above the codec is this package's own.
//
// A Handler serves each request stream on a goroutine of its own (or,
// while GOMAXPROCS handlers of the connection run, on the first of them
// to return, which is never later than the reader's next wait for
// input: see handler.go). A Stream's
// receive side (Read, Trailers) and send side (WriteHeaders, Write,
// Flush, WriteTrailers, Close) are independent, so a handler can read the
// request body while it writes the response: full duplex. HTTPHandler
// runs a net/http Handler instead.
//
// A handler that would wait long for the request body (a long poll, an
// upload that trickles in, a stream of messages from the client) may wait
// without its goroutine: Stream.WhenReadable names a function to run
// once a Read would not block, and the handler returns. The stream then
// waits as data alone (about 2.1 KB of RSS against 4.5 KB with a goroutine
// blocked in Read: bench/run.sh's streams and streams_later rows), and
// the function serves it on a handler goroutine when bytes, the body's
// end, a reset or the read deadline come (readable.go).
//
// # Goroutines
//
// Each connection has at most one reader goroutine, the only code that
// reads the socket. Its state is a type of its own (reader: the read
// Framer, the HPACK decoder, the header block in progress, the inbound
// connection window, the glitch budget, parking flags) that nothing else
// holds. It answers control frames and hands HEADERS and DATA to streams.
// The connection has at most one writer goroutine, the only code that
// writes the socket: it owns the write Framer, the HPACK encoder (so
// header blocks are encoded in the order they hit the wire), the windows
// the peer grants us, and each stream's outStream (its send window,
// priority, its place in the ready rings, whether END_STREAM or
// RST_STREAM went out); it exits after 100 to 200 ms without work and the
// next frame to send starts another. And it has one goroutine per running
// handler; after a handler returns, its goroutine takes the next stream
// of the connection's run queue, or waits for the connection's next
// stream, and they all exit once no stream came for 100 to 200 ms. One timer per connection (handler.go, sweepIdle) retires the
// idle writer and workers: arming a timer each time one goes idle cost
// more than the rest of its wait.
//
// The three meet at explicit hand-offs: the writer's queue, each stream's
// receive half (recvHalf, under its own mutex) and send half (sendHalf,
// likewise), the
// connection's send credit, and the connection's mutex, which guards the
// stream table, stream states, the record of streams we reset, and the
// connection's life (connLife: going away, failed, closed, and its
// timers). connLife.closed is set first at teardown, and everything that
// arms a timer or queues a frame from outside the reader checks it, so
// nothing outlives the connection. Every mutable field says which
// goroutine or mutex owns it.
//
// An idle connection needs none of them. On Linux, a TCP connection
// accepted by Serve, cleartext or TLS, parks when it waits for input with
// no stream open: its reader goroutine exits, its writer too, its socket
// waits in the Server's epoll instance, and the first byte that arrives
// starts a reader again (park.go says when a connection parks and who may
// touch a parked one; connReader.readDirect how a TLS connection makes
// sure its TLS layer holds no input). Other connections (ServeConn, other
// systems) keep a reader goroutine, which moves to a fresh goroutine, with a small
// stack, when the connection goes idle. Either way, a connection holds no
// read or write buffer while it waits.
//
// # The life of a request
//
// The reader decodes a HEADERS frame and its CONTINUATION frames under
// MaxHeaderListSize, validates the request (RFC 9113 sections 8.2 and
// 8.3), admits it under MAX_CONCURRENT_STREAMS, and starts its handler.
// DATA frames are checked against the connection's and the stream's
// windows and appended to the stream's receive buffer, never more than
// the window we advertised; the connection's window is credited at once,
// so one slow reader cannot stall its neighbours. The handler's Read
// consumes the buffer, and the stream's window is credited back with
// WINDOW_UPDATE in batches of a quarter window, not one per Read.
//
// Clients repeat themselves, and a header block that holds only indexed
// fields and literals the HPACK table does not keep decodes to the same
// fields for as long as the table stays as it is. The reader keeps a few
// such blocks with their fields and their validated request, and takes
// a block seen again from there; any block that may change the table
// empties that memo (hpackmemo.go). On the way out, a handler that
// passes the same http.Header for every response gets the head built
// from it the last time, while its keys and values are unchanged
// (headmemo.go).
//
// # Receive windows that grow
//
// A stream's window grows when its handler reads a quarter window in
// less than half a round trip: the sender could send more than the
// window lets it (the rule of QUIC receivers), so the window grows to
// twice the bandwidth-delay product that reading rate shows (2 to 64
// times at once), up to MaxStreamWindowSize, and the connection window
// grows with it.
// The round trip is measured once per connection, from our SETTINGS to
// the client's acknowledgement, at the HTTP/2 level, so that it spans
// any proxy on the path; nothing extra is sent for it. This is cheaper
// and quicker than a bandwidth-delay estimate from PING samples, as
// grpc-go makes: a stream reaches twice the path's bandwidth-delay
// product within a few round trips of the handler keeping up, and a
// handler that does not keep up never grows its window. A window that
// went quiet shrinks by half when it wakes; a stream's growth is freed
// when it ends. Growth is charged to a server-wide ReceiveBudget, with
// the bytes held for handlers that have not read them; past it, the
// connection window is credited only as handlers read (recvwin.go).
//
// # The life of a response
//
// WriteHeaders and Write fill the stream's send buffer (at most the
// stream's window, at most 128 KiB, 32 KiB while more than two streams
// share the connection, and across the connection no more than
// its window plus 256 KiB: past that, Write blocks). Flush, a
// full frame of body, or the end of the response hands the stream to the
// writer, once, however many Writes follow. The writer sends queued
// control frames first, then serves ready streams round-robin, one DATA
// frame per turn within the stream's window, the connection's window and
// the peer's MAX_FRAME_SIZE, and flushes its buffer once when it runs
// out of work: many frames, one syscall. A stream is in the ready rings
// at most once, and nothing goes out on it after its END_STREAM (but one
// RST_STREAM) or its RST_STREAM. A stream that cannot send for
// StallTimeout, for want of either window, is reset. When the handler
// returns, the response is ended for it; a request body still arriving
// that nobody will read is answered with RST_STREAM NO_ERROR after the
// response (RFC 9113 section 8.1), and the DATA already on its way is
// dropped without another word (reset.go).
//
// # Tunnels
//
// A CONNECT request (RFC 9113 section 8.5) and, with
// Server.EnableConnectProtocol, an extended CONNECT (RFC 8441, the
// WebSocket handshake of HTTP/2) run a handler like any request; its
// Stream is then the tunnel. Nothing else changes underneath: DATA in
// both directions under the same windows, END_STREAM as a half-close,
// RST_STREAM (CONNECT_ERROR for a broken upstream) as an abort, and the
// same limits. What is particular to them is checked where requests are:
// the request form (headers.go), no trailers on a tunnel (recv.go, and
// Stream.WriteTrailers), no content-length on its 2xx answer
// (Stream.WriteHeaders, and the adapter).
//
// # Errors and limits
//
// A connection error is answered with GOAWAY and the connection closes; a
// stream error with RST_STREAM, and the handler's Read and Write return a
// *StreamError. Once the connection is gone they return a
// *ConnectionError, and after the handler returned, its context's cause
// is ErrHandlerReturned. Each rejection logs one line per connection and reason
// and reaches Hooks.Rejected. Every limit is a Server field with a safe
// default, so the memory one connection holds is bounded whatever its
// peer sends.
package h2server
