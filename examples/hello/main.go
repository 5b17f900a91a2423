// Command hello is the smallest h2server program: it answers every request
// with 200 and a short text body.
//
//	go run ./examples/hello          # h2c (HTTP/2 over cleartext, prior knowledge)
//	go run ./examples/hello -tls     # HTTP/2 over TLS, self-signed certificate
//	go run ./examples/hello -extended-connect  # also advertise extended CONNECT (RFC 8441)
//
// It prints a curl command to try it with. The request body, if any, is
// read and discarded; HEAD gets the headers of GET without the body.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/h2server/h2server"
	"github.com/h2server/h2server/examples/internal/excert"
)

func hello(st *h2server.Stream) {
	req := st.Request()
	// Read the whole request body before answering. A handler that returns
	// without reading it gets its stream reset (NO_ERROR) after the
	// response, which is correct but surprises some clients.
	if _, err := io.Copy(io.Discard, st); err != nil {
		return // the client reset the stream or went away
	}
	body := fmt.Sprintf("hello, world\n%s %s\n", req.Method, req.Path)
	st.WriteHeaders(http.StatusOK, http.Header{
		"Content-Type":   {"text/plain; charset=utf-8"},
		"Content-Length": {strconv.Itoa(len(body))},
	})
	if req.Method != http.MethodHead {
		st.Write([]byte(body))
	}
	// Returning ends the response (END_STREAM).
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "TCP `host:port` to listen on")
	useTLS := flag.Bool("tls", false, "serve HTTP/2 over TLS (ALPN h2) with a self-signed certificate instead of h2c")
	extConnect := flag.Bool("extended-connect", false, "set Server.EnableConnectProtocol (SETTINGS_ENABLE_CONNECT_PROTOCOL=1), for conformance runs with it on")
	flag.Parse()
	if err := run(*addr, *useTLS, *extConnect); err != nil {
		slog.Error("hello failed", "err", err)
		os.Exit(1)
	}
}

func run(addr string, useTLS, extConnect bool) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	try := "curl --http2-prior-knowledge http://" + ln.Addr().String() + "/"
	srv := &h2server.Server{Handler: h2server.HandlerFunc(hello), EnableConnectProtocol: extConnect}
	serve := srv.Serve
	if useTLS {
		cfg, err := excert.TLSConfig()
		if err != nil {
			ln.Close()
			return err
		}
		srv.TLSConfig = cfg
		// ServeTLS rather than Serve(tls.NewListener(ln, cfg)): it sends
		// the TLS records of a large response in fewer system calls.
		serve = func(ln net.Listener) error { return srv.ServeTLS(ln, "", "") }
		try = "curl -k --http2 https://" + ln.Addr().String() + "/"
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- serve(ln) }()
	fmt.Printf("hello: listening on %s; try: %s\n", ln.Addr(), try)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills the process at once

	slog.Info("shutting down; waiting for open streams", "timeout", "10s")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, h2server.ErrServerClosed) {
		return err
	}
	slog.Info("stopped")
	return nil
}
