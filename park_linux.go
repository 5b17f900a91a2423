//go:build linux

package h2server

import (
	"net"
	"os"
	"syscall"
)

// Parking idle connections (Linux, cleartext TCP connections from Serve).
//
// An idle HTTP/2 connection spends almost all its life waiting for the
// next frame, and a goroutine blocked in Read costs its stack (2 KiB at
// least) and its descriptor the whole time. A parked connection has no
// goroutine: its socket sits in the Server's epoll instance, and when it
// becomes readable (data, the peer's FIN, an error) a reader goroutine
// starts again where the last one stopped. The epoll instance is itself
// waited on through Go's netpoller, by one goroutine per Server, so a
// parked connection costs no thread and no timer.
//
// Who may touch a parked connection: the poller's goroutine, when the
// socket is readable, and the paths that close or half-close it from
// outside the reader (conn.closeTransport, conn.closeWrite), which
// unpark it first so that the reader sees what they did. The socket is
// removed from the epoll set before it can be closed, so a reused file
// descriptor never meets a stale registration, and every registration
// carries a fresh token, so an event already read for an unparked
// connection finds nothing.

// epoll is the Server's epoll instance, waited on through Go's netpoller.
type epoll struct {
	f      *os.File
	raw    syscall.RawConn
	events [64]syscall.EpollEvent // wait's buffer; wait runs on the poller's goroutine only

	// ctl's arguments and result, and the two callbacks it hands to
	// Control, bound once in newEpoll, so that a registration allocates
	// nothing (closures made per call were a third of the garbage of a
	// connection that opens and goes idle). Guarded by poller.mu, which
	// every caller of ctl holds.
	op              int
	ev              syscall.EpollEvent
	sfd             uintptr
	err             error
	onSock, onEpoll func(fd uintptr)
}

func newEpoll() (*epoll, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	// A non-blocking descriptor makes a pollable File: reads wait in
	// the netpoller, and Close wakes them.
	f := os.NewFile(uintptr(fd), "h2server-epoll")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	ep := &epoll{f: f, raw: raw}
	ep.onSock, ep.onEpoll = ep.ctlSock, ep.ctlEpoll
	return ep, nil
}

func (ep *epoll) close() { ep.f.Close() }

// add registers the socket behind sock for one readability event that
// carries tok. It fails if either descriptor is closed.
func (ep *epoll) add(sock syscall.RawConn, tok uint64) error {
	return ep.ctl(sock, syscall.EPOLL_CTL_ADD, tok)
}

// del removes the socket's registration, if any.
func (ep *epoll) del(sock syscall.RawConn) {
	ep.ctl(sock, syscall.EPOLL_CTL_DEL, 0)
}

func (ep *epoll) ctl(sock syscall.RawConn, op int, tok uint64) error {
	ep.op, ep.err = op, nil
	ep.ev = syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(tok)),
		Pad:    int32(uint32(tok >> 32)),
	}
	cerr := sock.Control(ep.onSock)
	if ep.err == nil {
		ep.err = cerr
	}
	return ep.err
}

// ctlSock and ctlEpoll run inside ctl's Control calls: the socket's
// descriptor first, then the epoll instance's.
func (ep *epoll) ctlSock(sfd uintptr) {
	ep.sfd = sfd
	if cerr := ep.raw.Control(ep.onEpoll); ep.err == nil {
		ep.err = cerr
	}
}

func (ep *epoll) ctlEpoll(efd uintptr) {
	ep.err = syscall.EpollCtl(int(efd), ep.op, int(ep.sfd), &ep.ev)
}

// wait blocks until some registered sockets are readable and returns the
// tokens of their events, appended to toks. It fails once the epoll
// instance is closed.
func (ep *epoll) wait(toks []uint64) ([]uint64, error) {
	events := ep.events[:]
	var n int
	var werr error
	err := ep.raw.Read(func(efd uintptr) bool {
		for {
			n, werr = syscall.EpollWait(int(efd), events, 0)
			if werr != syscall.EINTR {
				break
			}
		}
		return werr != nil || n > 0 // nothing ready: wait for the netpoller
	})
	if err != nil {
		return toks, err
	}
	if werr != nil {
		return toks, os.NewSyscallError("epoll_wait", werr)
	}
	for _, ev := range events[:n] {
		toks = append(toks, uint64(uint32(ev.Fd))|uint64(uint32(ev.Pad))<<32)
	}
	return toks, nil
}

// rawConnOf returns the raw socket of a connection the reader may park
// (and, in cleartext, read directly): a *net.TCPConn, or the socket of a
// SocketConn. Anything else (a TLS connection before its handshake, other
// wrappers, in-memory connections) has none; a TLS connection's is taken
// from its NetConn once the handshake is done.
func rawConnOf(nc net.Conn) syscall.RawConn {
	var tc *net.TCPConn
	switch nc := nc.(type) {
	case *net.TCPConn:
		tc = nc
	case SocketConn:
		tc = nc.TCPSocket()
	}
	if tc == nil {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return raw
}

// sockRead is one read(2) on a non-blocking socket. wouldBlock reports
// that nothing was there (EAGAIN).
func sockRead(fd uintptr, p []byte) (n int, wouldBlock bool, err error) {
	for {
		n, err = syscall.Read(int(fd), p)
		switch err {
		case nil:
			return n, false, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, true, nil
		}
		return 0, false, os.NewSyscallError("read", err)
	}
}
