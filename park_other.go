//go:build !linux

package h2server

import (
	"errors"
	"net"
	"syscall"
)

// Parking needs epoll (park_linux.go); elsewhere every connection keeps
// its reader goroutine and reads through net.Conn.

type epoll struct{}

func newEpoll() (*epoll, error) { return nil, errors.ErrUnsupported }

func (*epoll) close()                               {}
func (*epoll) add(syscall.RawConn, uint64) error    { return errors.ErrUnsupported }
func (*epoll) del(syscall.RawConn)                  {}
func (*epoll) wait(toks []uint64) ([]uint64, error) { return toks, errors.ErrUnsupported }

func rawConnOf(net.Conn) syscall.RawConn { return nil }

func sockRead(uintptr, []byte) (int, bool, error) { return 0, false, errors.ErrUnsupported }
