package h2server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/pires/go-proxyproto"
)

// The PROXY protocol: the client's address, as a load balancer passes
// it on.
//
// Behind an L4 balancer (HAProxy's mode tcp with send-proxy-v2, AWS
// NLB, ...) every connection comes from the balancer, which tells the
// client's address in a header before the first byte of the client's
// own: "PROXY TCP4 ...\r\n" (version 1) or a binary block (version 2).
// github.com/pires/go-proxyproto parses it: it is the Go parser most
// deployments use, covers both versions and their TLVs, and is fuzzed.
// Its net.Conn and net.Listener wrappers are not used, because they read
// ahead through a bufio.Reader: the bytes they buffer would be lost to
// the raw socket reads and parking that a *net.TCPConn gets (see
// SocketConn). Instead the server reads exactly the header's bytes, no
// more, on the connection's own goroutine (never on the accept loop,
// which a slow balancer would stall), before the TLS handshake if any,
// and then serves the connection as accepted, with the client's
// addresses in ConnInfo and Request.RemoteAddr.

// ProxyProtocol configures the PROXY protocol (versions 1 and 2) on
// connections from load balancers; see Server.ProxyProtocol.
type ProxyProtocol struct {
	// From lists the networks the load balancers connect from. A
	// connection from one of them must open with a PROXY header: one
	// without (or with a malformed one) is closed, with one log line.
	// A connection from anywhere else is served as it is, so that a
	// client that reaches the server directly cannot claim another
	// address (its header would not be the HTTP/2 preface). Empty:
	// every connection must come through a balancer.
	From []netip.Prefix
}

// SocketConn is a net.Conn that wraps a TCP socket and passes the
// socket's bytes through unchanged once it is accepted: it holds none
// buffered and transforms none (it may have consumed a prefix, such as
// a PROXY header, before Accept returned it). Serve reads such a
// connection's socket directly and parks it when it is idle, as it does
// a *net.TCPConn; connections of other wrapping listeners are read
// through their Read method and never park, which costs each idle one a
// goroutine and its read buffer. Implement it only when it is true:
// bytes a wrapper holds back from a direct read are lost.
type SocketConn interface {
	net.Conn
	// TCPSocket returns the wrapped socket, or nil when there is none.
	TCPSocket() *net.TCPConn
}

// proxiedConn is an accepted connection whose PROXY header was read, as
// ConnContext and ConnInfo.NetConn see it: the same connection, with the
// addresses the header gave. The server itself goes on reading and
// writing the connection as accepted.
type proxiedConn struct {
	net.Conn
	remote, local net.Addr
}

func (pc *proxiedConn) RemoteAddr() net.Addr { return pc.remote }
func (pc *proxiedConn) LocalAddr() net.Addr  { return pc.local }

// fromBalancer says whether a connection from addr must open with a
// PROXY header.
func (p *ProxyProtocol) fromBalancer(addr net.Addr) bool {
	if len(p.From) == 0 {
		return true
	}
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, n := range p.From {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// check validates the configuration.
func (p *ProxyProtocol) check() error {
	for _, n := range p.From {
		if !n.IsValid() {
			return fmt.Errorf("h2server: ProxyProtocol.From holds an invalid prefix %v", n)
		}
	}
	return nil
}

// The largest headers accepted: version 1's is at most 107 bytes; version
// 2's is 16 bytes and its length, where TLVs from a balancer take a few
// hundred bytes at most.
const (
	proxyV1Max = 107
	proxyV2Max = 16 + 4096
)

// errNoProxyHeader says that a connection from a balancer did not open
// with a PROXY header.
var errNoProxyHeader = errors.New("no PROXY protocol header")

// readProxyHeader reads nc's PROXY header, exactly its bytes, and returns
// the connection with the client's addresses. A LOCAL header (a health
// check of the balancer's own, version 2) or UNKNOWN (version 1) keeps
// nc's addresses.
func readProxyHeader(nc net.Conn, timeout time.Duration) (net.Conn, error) {
	if timeout > 0 {
		nc.SetReadDeadline(time.Now().Add(timeout))
		defer nc.SetReadDeadline(time.Time{})
	}
	buf := make([]byte, 16, 256)
	if _, err := io.ReadFull(nc, buf[:5]); err != nil {
		return nil, err
	}
	switch {
	case bytes.Equal(buf[:5], proxyproto.SIGV1):
		// Version 1 ends at its CRLF, which only reading up to it finds:
		// a byte at a time, so that nothing after it is read.
		buf = buf[:5]
		for buf[len(buf)-1] != '\n' {
			if len(buf) == proxyV1Max {
				return nil, errors.New("PROXY version 1 header longer than 107 bytes")
			}
			buf = append(buf, 0)
			if _, err := io.ReadFull(nc, buf[len(buf)-1:]); err != nil {
				return nil, err
			}
		}
	case bytes.Equal(buf[:5], proxyproto.SIGV2[:5]):
		if _, err := io.ReadFull(nc, buf[5:16]); err != nil {
			return nil, err
		}
		if !bytes.Equal(buf[:12], proxyproto.SIGV2) {
			return nil, errNoProxyHeader
		}
		n := 16 + int(binary.BigEndian.Uint16(buf[14:16]))
		if n > proxyV2Max {
			return nil, fmt.Errorf("PROXY version 2 header of %d bytes, over %d", n, proxyV2Max)
		}
		buf = append(buf, make([]byte, n-16)...)
		if _, err := io.ReadFull(nc, buf[16:]); err != nil {
			return nil, err
		}
	default:
		return nil, errNoProxyHeader
	}
	h, err := proxyproto.Read(bufio.NewReaderSize(bytes.NewReader(buf), len(buf)))
	if err != nil {
		return nil, err
	}
	pc := &proxiedConn{Conn: nc, remote: nc.RemoteAddr(), local: nc.LocalAddr()}
	if !h.Command.IsLocal() && h.SourceAddr != nil && h.DestinationAddr != nil {
		pc.remote, pc.local = h.SourceAddr, h.DestinationAddr
	}
	return pc, nil
}
