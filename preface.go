package h2server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// clientPreface is what every HTTP/2 client sends first (RFC 9113 section 3.4).
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// http1Body is the body of the 505 an HTTP/1.x client gets.
const http1Body = "h2server: this port speaks HTTP/2 only. Connect with HTTP/2 prior knowledge " +
	"(h2c, e.g. curl --http2-prior-knowledge) or over TLS with ALPN h2 (e.g. curl --http2 https://...).\n"

// readPreface reads the client preface under PrefaceTimeout. It runs before
// we write anything: a prior-knowledge client sends its preface at once, so
// waiting costs no round trip, and an HTTP/1.1 client then gets a readable
// 505 instead of a binary SETTINGS frame. bad reports a preface that is
// neither HTTP/2 nor HTTP/1, to be answered with GOAWAY; err ends the
// connection at once.
func (c *conn) readPreface() (bad bool, err error) {
	c.rd.br = c.newConnReader()
	if d := c.cfg.prefaceTimeout; d > 0 {
		c.nc.SetReadDeadline(time.Now().Add(d))
		defer c.nc.SetReadDeadline(time.Time{})
	}
	for i := 0; i < len(clientPreface); i++ {
		b, err := c.rd.br.ReadByte()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.countError(0, ErrCodeNo, "preface_timeout")
				c.logger().Info("h2server: client preface not received in time; closing", "timeout", c.cfg.prefaceTimeout)
			}
			return false, err
		}
		if b == clientPreface[i] {
			continue
		}
		c.rd.br.UnreadByte()
		if c.answerHTTP1([]byte(clientPreface[:i])) {
			return false, errHTTP1
		}
		c.countError(0, ErrCodeProtocol, "invalid_preface")
		c.logger().Info("h2server: invalid client preface")
		return true, nil
	}
	return false, nil
}

var errHTTP1 = errors.New("h2server: client sent HTTP/1.1 to an HTTP/2-only port (use h2c prior knowledge or TLS with ALPN h2)")

// answerHTTP1 checks whether the connection opened with an HTTP/1.x
// request line (seen holds the bytes already consumed) and, if so, sends a
// 505 that says how to connect.
func (c *conn) answerHTTP1(seen []byte) bool {
	line := append([]byte(nil), seen...)
	for len(line) < 8<<10 {
		b, err := c.rd.br.ReadByte()
		if err != nil {
			return false
		}
		line = append(line, b)
		if b == '\n' {
			break
		}
	}
	line = bytes.TrimRight(line, "\r\n") // put back by the hand-off
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || !bytes.HasPrefix(line[bytes.LastIndexByte(line, ' ')+1:], []byte("HTTP/1.")) {
		return false
	}
	for _, ch := range line[:sp] {
		if !isLowerTchar[ch|0x20] {
			return false
		}
	}
	if c.srv.HTTP1 != nil {
		// Hand the connection over whole, with the bytes we consumed.
		// What net/http reads after them goes straight into its own
		// buffer, not through our raw path's small idle buffer.
		c.nc.SetReadDeadline(time.Time{})
		c.rd.br.raw = nil
		c.handOff(&replayConn{Conn: c.nc, r: io.MultiReader(bytes.NewReader(append(line, '\r', '\n')), c.rd.br)})
		return true
	}
	c.countError(0, ErrCodeHTTP11Required, "http1_request")
	c.logger().Info("h2server: client spoke HTTP/1.x to an HTTP/2-only port; sent 505", "request_line", string(line[:min(len(line), 100)]))
	if d := c.cfg.writeTimeout; d > 0 {
		c.nc.SetWriteDeadline(time.Now().Add(d))
	}
	fmt.Fprintf(c.nc, "HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: text/plain; charset=utf-8\r\n"+
		"Content-Length: %d\r\nConnection: close\r\n\r\n%s", len(http1Body), http1Body)
	c.closeWrite()
	return true
}

// handOff gives an HTTP/1.x connection to Server.HTTP1.
func (c *conn) handOff(nc net.Conn) error {
	c.handedOff = true
	l := c.srv.http1Listener()
	select {
	case l.conns <- nc:
		return nil
	case <-l.done:
		nc.Close()
		return ErrServerClosed
	}
}

// replayConn is a connection whose first bytes were already read: Read
// returns them again before reading on.
type replayConn struct {
	net.Conn
	r io.Reader
}

func (c *replayConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// handoffListener feeds the connections h2server accepted but does not
// speak to an http.Server's Serve loop.
type handoffListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case nc := <-l.conns:
		return nc, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "h2server" }
func (handoffAddr) String() string  { return "h2server-handoff" }
