package h2server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestHTTP1HandOff serves HTTP/2 and HTTP/1.1 on two TLS ports (one from
// tls.NewListener, one through ServeTLS) and on one cleartext port:
// connections that do not speak HTTP/2 go to Server.HTTP1.
func TestHTTP1HandOff(t *testing.T) {
	t.Cleanup(checkNoLeaks(t))
	cert, pool := testCert()
	srv := &Server{
		Handler: HandlerFunc(func(st *Stream) { io.WriteString(st, "h2server") }),
		HTTP1: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "net/http "+r.Proto)
			if r.Method == http.MethodPost {
				n, err := io.Copy(io.Discard, r.Body)
				fmt.Fprintf(w, " %d %v", n, err)
			}
		})},
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// A second TLS port through ServeTLS, which offers http/1.1 because
	// HTTP1 is set: its connections are a *tls.Conn over a recordConn.
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	served := make(chan error, 3)
	go func() {
		served <- srv.Serve(tls.NewListener(tl, &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{"h2", "http/1.1"},
		}))
	}()
	go func() { served <- srv.Serve(pl) }()
	go func() { served <- srv.ServeTLS(sl, "", "") }()

	get := func(c *http.Client, url string) string {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Proto + " " + string(b)
	}
	var h1, h2 http.Protocols
	h1.SetHTTP1(true)
	h2.SetHTTP2(true)
	h2.SetUnencryptedHTTP2(true)
	tr1 := &http.Transport{Protocols: &h1, TLSClientConfig: &tls.Config{RootCAs: pool}}
	tr2 := &http.Transport{Protocols: &h2, TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr1.CloseIdleConnections()
	defer tr2.CloseIdleConnections()
	c1, c2 := &http.Client{Transport: tr1}, &http.Client{Transport: tr2}

	for _, tc := range []struct {
		client *http.Client
		url    string
		want   string
	}{
		{c1, "https://" + tl.Addr().String() + "/", "HTTP/1.1 net/http HTTP/1.1"},
		{c2, "https://" + tl.Addr().String() + "/", "HTTP/2.0 h2server"},
		{c1, "https://" + sl.Addr().String() + "/", "HTTP/1.1 net/http HTTP/1.1"},
		{c2, "https://" + sl.Addr().String() + "/", "HTTP/2.0 h2server"},
		{c1, "http://" + pl.Addr().String() + "/", "HTTP/1.1 net/http HTTP/1.1"},
		{c2, "http://" + pl.Addr().String() + "/", "HTTP/2.0 h2server"},
	} {
		if got := get(tc.client, tc.url); got != tc.want {
			t.Errorf("GET %s = %q, want %q", tc.url, got, tc.want)
		}
	}

	// A large HTTP/1.1 body after the hand-off reaches net/http whole,
	// over cleartext and over TLS from ServeTLS.
	const bodySize = 1 << 20
	for _, url := range []string{"http://" + pl.Addr().String() + "/", "https://" + sl.Addr().String() + "/"} {
		resp, err := c1.Post(url, "application/octet-stream", bytes.NewReader(make([]byte, bodySize)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("net/http HTTP/1.1 %d <nil>", bodySize); string(b) != want {
			t.Errorf("POST %s over HTTP/1.1: %q, want %q", url, b, want)
		}
	}

	// A raw HTTP/1.1 request with a body arrives intact, request line included.
	nc, err := net.Dial("tcp", pl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(nc, "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	nc.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "net/http") {
		t.Errorf("raw HTTP/1.1: %d %q", resp.StatusCode, b)
	}

	tr1.CloseIdleConnections()
	tr2.CloseIdleConnections()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for range 3 {
		if err := <-served; err != ErrServerClosed {
			t.Errorf("Serve = %v", err)
		}
	}
}
