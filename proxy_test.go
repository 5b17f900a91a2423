package h2server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"
	"golang.org/x/net/http2"
)

// The PROXY protocol (proxy.go), over real TCP connections: the client's
// addresses reach ConnInfo, Request, ConnContext and the net/http
// adapter; a balancer's connection without a valid header is closed with
// one log line, and nothing else is touched.

// The addresses the test's "balancer" claims for its client.
var (
	proxyClient = &net.TCPAddr{IP: net.IPv4(203, 0, 113, 7), Port: 40123}
	proxyDest   = &net.TCPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 443}
)

// proxyHeader is the PROXY header of the given version for proxyClient.
func proxyHeader(t *testing.T, version byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := proxyproto.HeaderProxyFromAddrs(version, proxyClient, proxyDest).WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// addrHandler answers with the addresses the stream sees: the Request's,
// then its connection's.
func addrHandler(st *Stream) {
	io.WriteString(st, st.Request().RemoteAddr.String()+" "+st.Conn().RemoteAddr.String()+" "+st.Conn().LocalAddr.String())
}

// proxyServer serves addrHandler with the PROXY protocol on, recording
// what ConnContext saw and the rejections.
type proxyServer struct {
	*liveServer
	mu          sync.Mutex
	connContext []string // the RemoteAddr ConnContext saw, per connection
	rejections  []string
}

func startProxyServer(t *testing.T, p *ProxyProtocol, useTLS bool) *proxyServer {
	t.Helper()
	ps := &proxyServer{}
	srv := &Server{
		Handler:       HandlerFunc(addrHandler),
		ProxyProtocol: p,
		ConnContext: func(ctx context.Context, nc net.Conn) context.Context {
			ps.mu.Lock()
			ps.connContext = append(ps.connContext, nc.RemoteAddr().String())
			ps.mu.Unlock()
			return ctx
		},
		Hooks: &Hooks{Rejected: func(r *Rejection) {
			ps.mu.Lock()
			ps.rejections = append(ps.rejections, r.Reason)
			ps.mu.Unlock()
		}},
	}
	ps.liveServer = startServer(t, srv, useTLS)
	return ps
}

func (ps *proxyServer) seen() (connContext, rejections []string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return append([]string(nil), ps.connContext...), append([]string(nil), ps.rejections...)
}

// wantAddrs reads stream id's response and checks that every address in
// it is the one the header claimed.
func wantAddrs(t *testing.T, c *rawClient, id uint32) {
	t.Helper()
	c.get(id, "/")
	status, body := c.response(id)
	want := proxyClient.String() + " " + proxyClient.String() + " " + proxyDest.String()
	if status != "200" || body != want {
		t.Fatalf("status %s, addresses %q, want %q (the header's)", status, body, want)
	}
}

func TestProxyProtocolAddresses(t *testing.T) {
	for _, v := range []byte{1, 2} {
		t.Run("v"+string('0'+v), func(t *testing.T) {
			ps := startProxyServer(t, &ProxyProtocol{}, false)
			c := dialRawAfter(t, ps.addr, proxyHeader(t, v))
			wantAddrs(t, c, 1)
			wantAddrs(t, c, 3)
			if cc, rej := ps.seen(); len(cc) != 1 || cc[0] != proxyClient.String() || len(rej) != 0 {
				t.Errorf("ConnContext saw %q, rejections %q; want the client's address and none", cc, rej)
			}
		})
	}
}

// TestProxyProtocolLocal: a version 2 LOCAL header (a balancer's own
// health check) keeps the connection's real addresses.
func TestProxyProtocolLocal(t *testing.T) {
	ps := startProxyServer(t, &ProxyProtocol{}, false)
	var b bytes.Buffer
	h := &proxyproto.Header{Version: 2, Command: proxyproto.LOCAL, TransportProtocol: proxyproto.UNSPEC}
	if _, err := h.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	c := dialRawAfter(t, ps.addr, b.Bytes())
	c.get(1, "/")
	status, body := c.response(1)
	local := c.nc.LocalAddr().String()
	if status != "200" || !strings.HasPrefix(body, local+" "+local+" ") {
		t.Fatalf("status %s, addresses %q, want the socket's own (%s)", status, body, local)
	}
}

// TestProxyProtocolTLS: the header comes before the TLS handshake.
func TestProxyProtocolTLS(t *testing.T) {
	ps := startProxyServer(t, &ProxyProtocol{}, true)
	nc, err := net.Dial("tcp", ps.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(proxyHeader(t, 2)); err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(nc, &tls.Config{RootCAs: ps.pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}})
	c := rawClientOver(t, tc)
	wantAddrs(t, c, 1)
}

// TestProxyProtocolFrom: only the listed networks may (and must) send a
// header. A connection from elsewhere is served as it is, and a header
// from it is no preface.
func TestProxyProtocolFrom(t *testing.T) {
	ps := startProxyServer(t, &ProxyProtocol{From: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, false)
	c := dialRaw(t, ps.addr)
	c.get(1, "/")
	if status, body := c.response(1); status != "200" || !strings.HasPrefix(body, "127.0.0.1:") {
		t.Fatalf("status %s, addresses %q, want loopback's", status, body)
	}
	bad := dialRawAfter(t, ps.addr, proxyHeader(t, 2))
	if codes := bad.goAwaysUntilEOF(); len(codes) != 1 || codes[0] != http2.ErrCodeProtocol {
		t.Errorf("a header from outside From: GOAWAYs %v, want PROTOCOL_ERROR (invalid preface)", codes)
	}

	// 127.0.0.1 listed: now the header is required.
	ps2 := startProxyServer(t, &ProxyProtocol{From: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, false)
	wantAddrs(t, dialRawAfter(t, ps2.addr, proxyHeader(t, 1)), 1)
	wantClosedAfter(t, ps2.addr, nil)
}

// TestProxyProtocolBadHeader: each malformed or missing header closes its
// connection with one log line and a Rejected event; a connection
// already open through the balancer goes on.
func TestProxyProtocolBadHeader(t *testing.T) {
	v2 := proxyHeader(t, 2)
	long := append([]byte("PROXY TCP4 203.0.113.7 198.51.100.1 40123 443"), bytes.Repeat([]byte(" "), 100)...)
	oversize := append(append([]byte(nil), v2[:14]...), 0xff, 0xff)
	badVersion := append([]byte(nil), v2...)
	badVersion[12] = 0x31 // version 3
	for _, tc := range []struct {
		name   string
		prefix []byte
	}{
		{"missing", nil},
		{"v1_garbage", []byte("PROXY banana\r\n")},
		{"v1_too_long", append(long, '\r', '\n')},
		{"v2_bad_version", badVersion},
		{"v2_oversize", oversize},
		{"not_proxy", []byte("GET / HTTP/1.1\r\n\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := startProxyServer(t, &ProxyProtocol{}, false)
			good := dialRawAfter(t, ps.addr, v2)
			wantAddrs(t, good, 1)
			wantClosedAfter(t, ps.addr, tc.prefix)
			wantAddrs(t, good, 3)
			_, rej := ps.seen()
			if len(rej) != 1 || rej[0] != "proxy_header" {
				t.Errorf("rejections %q, want one proxy_header", rej)
			}
			if n := strings.Count(ps.logs.String(), "no valid PROXY protocol header"); n != 1 {
				t.Errorf("%d log lines about the header, want 1; log:\n%s", n, ps.logs)
			}
		})
	}
}

// TestProxyProtocolBadConfig: an invalid prefix is an error at start.
func TestProxyProtocolBadConfig(t *testing.T) {
	srv := &Server{Handler: HandlerFunc(addrHandler), ProxyProtocol: &ProxyProtocol{From: []netip.Prefix{{}}}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := srv.Serve(l); err == nil || !strings.Contains(err.Error(), "ProxyProtocol.From") {
		t.Errorf("Serve: %v, want an error about ProxyProtocol.From", err)
	}
}

// wantClosedAfter connects, sends prefix and the client preface, and
// expects the server to close the connection without a frame: EOF, or a
// reset when the client's bytes were left unread.
func wantClosedAfter(t *testing.T, addr string, prefix []byte) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(testTimeout))
	// The server may close before it has read everything: a failed
	// write is part of what is expected.
	nc.Write(append(prefix, http2.ClientPreface...))
	b, err := io.ReadAll(nc)
	if len(b) > 0 {
		t.Fatalf("the server sent %d bytes (%q), want the connection closed", len(b), b[:min(len(b), 32)])
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read: %v, want EOF or a reset", err)
	}
}
