package h2server_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/h2server/h2server"
)

// A server on a loopback port, serving h2c (HTTP/2 over cleartext TCP with
// prior knowledge), and one request from Go's HTTP/2 client.
func ExampleServer_Serve() {
	srv := &h2server.Server{
		Handler: h2server.HandlerFunc(func(st *h2server.Stream) {
			req := st.Request()
			st.WriteHeaders(http.StatusOK, http.Header{"Content-Type": {"text/plain"}})
			fmt.Fprintf(st, "hello, %s %s\n", req.Method, req.Path)
			// Returning ends the response.
		}),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }() // a plain TCP listener: h2c

	// net/http's client speaks HTTP/2 with prior knowledge to http:// URLs
	// when unencrypted HTTP/2 is its only protocol.
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: tr}

	res, err := client.Get("http://" + ln.Addr().String() + "/greeting")
	if err != nil {
		log.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Proto, res.Status)
	fmt.Print(string(body))

	// Shut down: the client first, so that the server has no connection
	// left to wait for, then the server.
	tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-served)
	// Output:
	// HTTP/2.0 200 OK
	// hello, GET /greeting
	// h2server: server closed
}

// A full-duplex handler: it echoes each chunk of the request body as soon
// as it arrives, while the client is still sending. The client sends a
// chunk, reads its echo, then sends the next, all on one stream.
func ExampleStream_fullDuplex() {
	echo := h2server.HandlerFunc(func(st *h2server.Stream) {
		st.WriteHeaders(http.StatusOK, nil)
		st.Flush() // the response head goes out before any body arrives
		buf := make([]byte, 4096)
		for {
			n, err := st.Read(buf)
			if n > 0 {
				st.Write(buf[:n])
				st.Flush() // send this chunk now, not when a frame fills up
			}
			if err != nil {
				return // io.EOF: the client finished; returning ends the response
			}
		}
	})
	url, client, stop := startServer(echo)
	defer stop()

	body, send := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.Do(req) // returns with the response head; the request is still open
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	buf := make([]byte, 64)
	for _, msg := range []string{"ping 1", "ping 2", "ping 3"} {
		if _, err := send.Write([]byte(msg)); err != nil {
			log.Fatal(err)
		}
		n, err := io.ReadAtLeast(res.Body, buf, len(msg))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("sent %q, got back %q\n", msg, buf[:n])
	}
	send.Close() // END_STREAM: the handler's Read returns io.EOF
	rest, err := io.ReadAll(res.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("response ended after %d more bytes\n", len(rest))
	// Output:
	// sent "ping 1", got back "ping 1"
	// sent "ping 2", got back "ping 2"
	// sent "ping 3", got back "ping 3"
	// response ended after 0 more bytes
}

// Trailers: fields sent after the body, such as a checksum or a gRPC
// status known only once the body is written. WriteTrailers ends the
// response.
func ExampleStream_WriteTrailers() {
	h := h2server.HandlerFunc(func(st *h2server.Stream) {
		// Announcing the trailers in the head is optional, but tells
		// clients what to expect.
		st.WriteHeaders(http.StatusOK, http.Header{"Trailer": {"Checksum"}})
		body := "some data\n"
		io.WriteString(st, body)
		st.WriteTrailers(http.Header{"Checksum": {fmt.Sprintf("len=%d", len(body))}})
	})
	url, client, stop := startServer(h)
	defer stop()

	res, err := client.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body) // trailers arrive after the body
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("body: %q\n", body)
	fmt.Println("Checksum:", res.Trailer.Get("Checksum"))
	// Output:
	// body: "some data\n"
	// Checksum: len=10
}

// Reading the request body, and request trailers once Read returns io.EOF.
func ExampleStream_Read() {
	h := h2server.HandlerFunc(func(st *h2server.Stream) {
		body, err := io.ReadAll(st) // st.Read returns io.EOF at END_STREAM
		if err != nil {
			st.Reset(h2server.ErrCodeCancel)
			return
		}
		fmt.Fprintf(st, "read %d bytes, trailer X-Sum=%q\n", len(body), st.Trailers().Get("X-Sum"))
	})
	url, client, stop := startServer(h)
	defer stop()

	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader("0123456789"))
	if err != nil {
		log.Fatal(err)
	}
	req.Trailer = http.Header{"X-Sum": {"45"}}
	res, err := client.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	if _, err := io.Copy(os.Stdout, res.Body); err != nil {
		log.Fatal(err)
	}
	// Output:
	// read 10 bytes, trailer X-Sum="45"
}

// An upload handler that waits for the request body without a goroutine:
// it reads once per call (that Read never blocks) and waits again with
// WhenReadable until the body ends. A client that sends slowly costs the
// server the stream's state, not a goroutine blocked in Read.
func ExampleStream_WhenReadable() {
	count := h2server.HandlerFunc(func(st *h2server.Stream) {
		var total, reads int
		buf := make([]byte, 4<<10)
		var step func(*h2server.Stream)
		step = func(st *h2server.Stream) {
			n, err := st.Read(buf)
			total += n
			reads++
			switch {
			case err == nil:
				st.WhenReadable(step) // wait for more
			case err == io.EOF:
				st.WriteHeaders(http.StatusOK, nil)
				fmt.Fprintf(st, "%d bytes\n", total)
			}
		}
		st.WhenReadable(step)
	})
	url, client, stop := startServer(count)
	defer stop()

	// The body comes in two pieces, the second only after the first was
	// sent: between them, the stream waits with no handler goroutine.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("hello, "))
		pw.Write([]byte("world"))
		pw.Close()
	}()
	res, err := client.Post(url+"upload", "text/plain", pr)
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Print(string(body))
	// Output:
	// 12 bytes
}

// startServer serves h on a loopback port the way ExampleServer_Serve
// does, and returns a URL for it, an HTTP/2 (h2c) client, and a function
// that shuts both down.
func startServer(h h2server.Handler) (url string, client *http.Client, stop func()) {
	srv := &h2server.Server{Handler: h}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	stop = func() {
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			log.Fatal(err)
		}
		<-served
	}
	return "http://" + ln.Addr().String() + "/", &http.Client{Transport: tr}, stop
}
