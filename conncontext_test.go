package h2server

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/net/http2"
)

// Connection context and identity: BaseContext and ConnContext as
// net/http has them, Stream.Conn, RegisterOnShutdown.

type ctxKey string

// TestBaseAndConnContextReachStreams: values set by BaseContext (per
// listener) and ConnContext (per connection) are in every Stream's
// Context and every HTTPHandler request's; ConnContext sees the accepted
// net.Conn, and each connection gets its own value.
func TestBaseAndConnContextReachStreams(t *testing.T) {
	type seen struct {
		base, conn any
		id         uint64
		remote     string
	}
	got := make(chan seen, 10)
	var listener net.Listener
	srv := &Server{
		Handler: HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st, _ := StreamOf(w)
			got <- seen{r.Context().Value(ctxKey("base")), r.Context().Value(ctxKey("conn")), st.Conn().ID, r.RemoteAddr}
		})),
		BaseContext: func(l net.Listener) context.Context {
			listener = l
			return context.WithValue(context.Background(), ctxKey("base"), "from BaseContext")
		},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, ctxKey("conn"), c.RemoteAddr().String())
		},
		Logger: slog.New(slog.DiscardHandler),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Close()
	var ids []uint64
	for range 2 { // two connections, two requests each
		tr := h2cTransport()
		for range 2 {
			resp, err := (&http.Client{Transport: tr}).Get("http://" + l.Addr().String() + "/")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			s := <-got
			if s.base != "from BaseContext" || s.conn != s.remote {
				t.Errorf("request context: base %v, conn %v (remote %s)", s.base, s.conn, s.remote)
			}
			ids = append(ids, s.id)
		}
		tr.CloseIdleConnections()
	}
	if listener != l {
		t.Errorf("BaseContext got listener %v, want the one given to Serve", listener)
	}
	if ids[0] == 0 || ids[0] != ids[1] || ids[2] != ids[3] || ids[2] <= ids[0] {
		t.Errorf("connection IDs %v: want the same on one connection, increasing from 1 across them", ids)
	}
}

// TestStreamConnInfo: a Stream's Conn describes its connection, with the
// net.Conn as accepted (a *tls.Conn over TLS) and the TLS state.
func TestStreamConnInfo(t *testing.T) {
	cert, _ := testCert()
	infos := make(chan *ConnInfo, 1)
	srv := &Server{
		Handler: HandlerFunc(func(st *Stream) { infos <- st.Conn() }),
		Logger:  slog.New(slog.DiscardHandler),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}))
	defer srv.Close()
	tr := &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: testCertPoolOnly()}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get("https://" + l.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	info := <-infos
	if _, ok := info.NetConn.(*tls.Conn); !ok {
		t.Errorf("NetConn is %T, want *tls.Conn", info.NetConn)
	}
	if info.TLS == nil || info.TLS.NegotiatedProtocol != "h2" {
		t.Errorf("TLS state %+v, want the handshake's (h2)", info.TLS)
	}
	if info.LocalAddr.String() != l.Addr().String() || info.RemoteAddr != info.NetConn.RemoteAddr() {
		t.Errorf("addresses %v -> %v, want the connection's", info.RemoteAddr, info.LocalAddr)
	}
	if info.ID == 0 || info.Opened.IsZero() {
		t.Errorf("ID %d, opened %v: want both set", info.ID, info.Opened)
	}
}

// TestServeConnContext: ServeConn calls BaseContext with a nil listener,
// and a ConnContext that returns nil closes the connection with a log
// line and an error, instead of serving without the user's values.
func TestServeConnContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var gotListener net.Listener = &net.TCPListener{}
		tst := newServerTester(t, HandlerFunc(func(st *Stream) {
			if st.Context().Value(ctxKey("base")) != "b" {
				st.Reset(ErrCodeInternal)
			}
		}), func(s *Server) {
			s.BaseContext = func(l net.Listener) context.Context {
				gotListener = l
				return context.WithValue(context.Background(), ctxKey("base"), "b")
			}
		})
		tst.greet()
		tst.get(1, "/")
		tst.wantHeaders(1, true)
		if gotListener != nil {
			t.Errorf("BaseContext got %v for ServeConn, want nil", gotListener)
		}
	})
	logs := &logBuffer{}
	srv := &Server{
		Handler:     HandlerFunc(func(*Stream) {}),
		Logger:      slog.New(slog.NewTextHandler(logs, nil)),
		ConnContext: func(context.Context, net.Conn) context.Context { return nil },
	}
	sc, cc := newPipe()
	defer cc.Close()
	if err := srv.ServeConn(sc); err == nil || !strings.Contains(err.Error(), "ConnContext returned a nil context") {
		t.Errorf("ServeConn with a nil ConnContext: %v", err)
	}
	if !sc.readClosed() || !strings.Contains(logs.String(), "ConnContext returned a nil context") {
		t.Errorf("want the connection closed and one log line; log:\n%s", logs)
	}
}

// TestRegisterOnShutdown: registered functions run once, when Shutdown
// is first called, before it waits for streams to drain.
func TestRegisterOnShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := &Server{Handler: HandlerFunc(func(*Stream) {}), Logger: slog.New(slog.DiscardHandler)}
		ran := make(chan string, 4)
		srv.RegisterOnShutdown(func() { ran <- "a" })
		srv.RegisterOnShutdown(func() { ran <- "b" })
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		srv.Shutdown(ctx)
		synctest.Wait()
		if n := len(ran); n != 2 {
			t.Fatalf("%d calls, want 2 (each once)", n)
		}
	})
}
