// Command idlefloor is the least a Go server can keep for an idle HTTP/2
// connection: the *net.TCPConn alone. It accepts connections, completes
// the SETTINGS exchange of bench/idleconns (reads the client preface and
// SETTINGS, sends an empty SETTINGS and an ACK, reads the client's ACK) on
// a goroutine that then exits, and holds each connection with no
// goroutine, no buffer and no HTTP/2 state. Its RSS per connection is what
// the runtime itself costs (the socket's netFD and addresses, its poll
// descriptor, finalizer and GC metadata): bench/idlefloor.sh measures it
// beside h2server's.
//
//	go run ./bench/idlefloor -addr 127.0.0.1:9911
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"sync"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9911", "TCP `host:port` to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening on", ln.Addr())
	var mu sync.Mutex
	var held []net.Conn
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		mu.Lock()
		held = append(held, c)
		mu.Unlock()
		go settings(c)
	}
}

// settings does the SETTINGS exchange on c, the least bench/idleconns
// accepts, and returns; c stays open.
func settings(c net.Conn) {
	var hdr [24 + 9]byte // the client preface and its SETTINGS frame header
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return
	}
	n := int(hdr[24])<<16 | int(hdr[25])<<8 | int(hdr[26])
	if _, err := io.CopyN(io.Discard, c, int64(n)); err != nil {
		return
	}
	// An empty SETTINGS frame, then the ACK of the client's.
	c.Write([]byte{0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 0, 0, 0, 0})
	io.ReadFull(c, hdr[:9]) // the client's ACK
}
