package h2server

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes++
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *countingConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

// tlsRecordPair is a TLS connection over a recordConn, as ServeTLS makes
// it, handshaken with a client on the other end of a TCP pair.
func tlsRecordPair(t *testing.T) (srv *tls.Conn, under *countingConn, client *tls.Conn) {
	t.Helper()
	a, b := tcpPair(t)
	cert, pool := testCert()
	under = &countingConn{Conn: a}
	srv = tls.Server(&recordConn{Conn: under}, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	client = tls.Client(b, &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS13})
	errc := make(chan error, 1)
	go func() { errc <- client.Handshake() }()
	if err := srv.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return srv, under, client
}

// TestRecordConnOneWritePerBatch: a batch of seven records' plaintext
// (the huge buffer) leaves the writer as seven TLS records in one write
// to the socket, and arrives intact; a batch that fits one record is
// written as it comes. Through a write deadline, as WriteTimeout sets.
func TestRecordConnOneWritePerBatch(t *testing.T) {
	for _, deadline := range []bool{false, true} {
		srv, under, client := tlsRecordPair(t)
		o := &outBuf{out: srv}
		if deadline {
			o.out = &deadlineWriter{nc: srv, d: time.Minute}
		}
		if recordConnOf(o.out) == nil {
			t.Fatal("recordConnOf found no recordConn under the TLS connection")
		}
		body := vecBody(3, hugeWriteBufferSize+100)
		got := make(chan []byte, 1)
		go func() {
			p := make([]byte, len(body))
			io.ReadFull(client, p)
			got <- p
		}()
		before := under.count()
		o.Write(body[:hugeWriteBufferSize]) // fills the buffer: out in one batch
		if n := under.count() - before; n != 1 {
			t.Errorf("deadline=%v: seven records' plaintext took %d writes to the socket, want 1", deadline, n)
		}
		o.Write(body[hugeWriteBufferSize:])
		if err := o.flush(); err != nil {
			t.Fatal(err)
		}
		if p := <-got; !bytes.Equal(p, body) {
			t.Fatalf("the client read %d bytes that differ from what was written at %d", len(p), firstDiffAt(p, body))
		}
		if n := under.count() - before; n != 2 {
			t.Errorf("deadline=%v: %d writes to the socket in all, want 2", deadline, n)
		}
		if rc := recordConnOf(o.out); rc.buf != nil || rc.hold.Load() {
			t.Error("the recordConn kept its buffer, or holds, after the batch")
		}
	}
}

// TestRecordConnCloseDuringBatch: Close on another goroutine while the
// writer holds a batch (teardown of a connection whose writer is busy)
// neither blocks nor keeps anything: the release reports the failed
// write and gives the buffer back. (The writer's own graceful close
// comes after its last batch is out: writer.handle, itemClose.)
func TestRecordConnCloseDuringBatch(t *testing.T) {
	srv, _, _ := tlsRecordPair(t)
	rc := srv.NetConn().(*recordConn)
	rc.holdRecords()
	if _, err := srv.Write(vecBody(5, 3*maxRecordPlaintext)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- srv.Close() }()
	<-closed
	if err := rc.releaseRecords(); err == nil {
		t.Error("the release after Close wrote the records")
	}
	if rc.buf != nil || rc.hold.Load() {
		t.Error("the recordConn kept its buffer, or holds, after the release")
	}
}

// TestServeTLSConfigErrors: ServeTLS without certificates, or with a key
// pair it cannot load, returns a clear error at once and leaves the
// listener open.
func TestServeTLSConfigErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, tc := range []struct{ cert, key, want string }{
		{"", "", "need certFile and keyFile"},
		{"testdata/none.pem", "testdata/none.key", "loading TLS key pair"},
	} {
		srv := &Server{Handler: HandlerFunc(func(*Stream) {})}
		err := srv.ServeTLS(l, tc.cert, tc.key)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ServeTLS(%q, %q) = %v, want an error saying %q", tc.cert, tc.key, err, tc.want)
		}
	}
	// Still open: a dial gets through.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("the listener was closed: %v", err)
	}
	c.Close()
}

// TestServeTLSNetConn: under a connection from ServeTLS, the *tls.Conn's
// NetConn is a SocketConn whose TCPSocket is the accepted socket, as
// ServeTLS documents.
func TestServeTLSNetConn(t *testing.T) {
	got := make(chan *net.TCPConn, 1)
	ls := startServer(t, &Server{Handler: HandlerFunc(func(st *Stream) {
		var sock *net.TCPConn
		if tc, ok := st.Conn().NetConn.(*tls.Conn); ok {
			if sc, ok := tc.NetConn().(SocketConn); ok {
				sock = sc.TCPSocket()
			}
		}
		got <- sock
		st.WriteHeaders(200, nil)
	})}, true)
	tr := xnetTransport(t, ls)
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(ls.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	sock := <-got
	if sock == nil {
		t.Fatal("no *net.TCPConn under the TLS connection's NetConn")
	}
	if sock.LocalAddr().String() != ls.addr {
		t.Errorf("TCPSocket is %v, want the server's end at %s", sock.LocalAddr(), ls.addr)
	}
}
