package h2server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func hello(st *Stream) {
	io.Copy(io.Discard, st)
	st.WriteHeaders(200, http.Header{"Content-Type": {"text/plain"}})
	io.WriteString(st, "hello "+st.Request().Path)
}

func TestServerSettingsFirst(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello), func(s *Server) {
			s.MaxConcurrentStreams = 7
			s.InitialStreamWindowSize = 1000
		})
		tst.wantIdle() // nothing before the client preface
		tst.writePreface()
		tst.fr.WriteSettings()
		sf := wantFrame[*http2.SettingsFrame](tst)
		if sf.IsAck() {
			t.Fatal("got SETTINGS ACK first")
		}
		want := map[http2.SettingID]uint32{
			http2.SettingMaxConcurrentStreams: 7,
			http2.SettingInitialWindowSize:    1000,
			http2.SettingMaxFrameSize:         16384,
			http2.SettingMaxHeaderListSize:    64 << 10,
		}
		for id, v := range want {
			if got, ok := sf.Value(id); !ok || got != v {
				t.Errorf("setting %v = %d, %v; want %d", id, got, ok, v)
			}
		}
		tst.wantWindowUpdate(0, 2<<20-65535)
		tst.wantSettingsAck()
	})
}

func TestServerHelloRoundTrip(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello))
		tst.greet()
		tst.get(1, "/a")
		// One small response is one HEADERS and one DATA with END_STREAM.
		tst.wantHeaders(1, false)
		tst.wantData(1, true, "hello /a")
		tst.get(3, "/b")
		r := tst.wantResponse(3)
		if r.status != "200" || r.body != "hello /b" {
			t.Fatalf("got %+v", r)
		}
		tst.wantIdle()
	})
}

func TestServerInvalidPreface(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello))
		tst.cc.Write([]byte("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"))
		wantFrame[*http2.SettingsFrame](tst)
		wantFrame[*http2.WindowUpdateFrame](tst)
		tst.wantGoAway(ErrCodeProtocol)
		tst.wantClosed()
		if !strings.Contains(tst.logs.String(), "invalid client preface") {
			t.Errorf("log = %q, want a line about the preface", tst.logs.String())
		}
	})
}

func TestServerHTTP1Gets505(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello))
		tst.cc.Write([]byte("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"))
		synctest.Wait()
		b, _ := io.ReadAll(tst.cc)
		if !bytes.HasPrefix(b, []byte("HTTP/1.1 505 ")) || !bytes.Contains(b, []byte("prior knowledge")) {
			t.Fatalf("got %q", b)
		}
		if n := strings.Count(tst.logs.String(), "\n"); n != 1 {
			t.Errorf("logged %d lines, want 1: %s", n, tst.logs.String())
		}
	})
}

func TestServerPrefaceTimeout(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello), func(s *Server) { s.PrefaceTimeout = 3 * time.Second })
		tst.cc.Write([]byte("PRI * HTTP/2.0\r\n")) // half a preface, then silence
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if tst.cc.readClosed() {
			t.Fatal("closed before the timeout")
		}
		time.Sleep(2 * time.Second)
		tst.wantClosed()
		if !strings.Contains(tst.logs.String(), "preface not received in time") {
			t.Errorf("log = %q", tst.logs.String())
		}
	})
}

func TestServerFirstFrameMustBeSettings(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello))
		tst.writePreface()
		tst.fr.WritePing(false, [8]byte{})
		wantFrame[*http2.SettingsFrame](tst)
		wantFrame[*http2.WindowUpdateFrame](tst)
		tst.wantGoAway(ErrCodeProtocol)
		tst.wantClosed()
	})
}

func TestServerSettingsAckTimeout(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello), func(s *Server) { s.SettingsAckTimeout = 5 * time.Second })
		tst.writePreface()
		tst.fr.WriteSettings()
		wantFrame[*http2.SettingsFrame](tst)
		wantFrame[*http2.WindowUpdateFrame](tst)
		tst.wantSettingsAck()
		time.Sleep(5 * time.Second)
		tst.wantGoAway(ErrCodeSettingsTimeout)
		tst.wantClosed()
	})
}

func TestServerInvalidSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    http2.Setting
		code ErrCode
	}{
		{"enable_push_2", http2.Setting{ID: http2.SettingEnablePush, Val: 2}, ErrCodeProtocol},
		{"window_too_big", http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31}, ErrCodeFlowControl},
		{"frame_size_small", http2.Setting{ID: http2.SettingMaxFrameSize, Val: 16383}, ErrCodeProtocol},
		{"frame_size_big", http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 24}, ErrCodeProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := newServerTester(t, HandlerFunc(hello))
				tst.greet()
				tst.fr.WriteSettings(tc.s)
				tst.wantGoAway(tc.code)
				tst.wantClosed()
			})
		})
	}
}

func TestServerSettingsRepeatedLastWins(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(func(st *Stream) {
			st.Write(bytes.Repeat([]byte("x"), 100))
		}))
		tst.greet()
		// RFC 9113 section 6.5.3: values are processed in order.
		tst.fr.WriteSettings(
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10},
		)
		tst.wantSettingsAck()
		tst.get(1, "/")
		tst.wantHeaders(1, false)
		tst.wantData(1, false, strings.Repeat("x", 10))
		tst.wantIdle()
	})
}

func TestServerPing(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello))
		tst.greet()
		data := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
		tst.fr.WritePing(false, data)
		f := wantFrame[*http2.PingFrame](tst)
		if !f.IsAck() || f.Data != data {
			t.Fatalf("got PING ack=%v data=%v", f.IsAck(), f.Data)
		}
		tst.fr.WritePing(true, data) // an unsolicited ACK is ignored
		tst.wantIdle()
	})
}

func TestServerUnknownFrameIgnored(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello))
		tst.greet()
		tst.fr.WriteRawFrame(0xfa, 0, 1, []byte("whatever"))
		tst.get(1, "/")
		if r := tst.wantResponse(1); r.body != "hello /" {
			t.Fatalf("got %+v", r)
		}
	})
}

func TestServerPushPromiseIsConnectionError(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello))
		tst.greet()
		tst.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: tst.encode(reqFields("GET", "/")...), EndHeaders: true})
		tst.wantGoAway(ErrCodeProtocol)
		tst.wantClosed()
	})
}

func TestServerPriorityIgnoredAndSelfDependencyRejected(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello))
		tst.greet()
		tst.fr.WritePriority(5, http2.PriorityParam{StreamDep: 3, Weight: 10})
		tst.wantIdle()
		tst.fr.WritePriority(7, http2.PriorityParam{StreamDep: 7})
		tst.wantRSTStream(7, ErrCodeProtocol)
		// The connection is fine: a PRIORITY does not open stream 5 or 7.
		tst.get(9, "/")
		tst.wantResponse(9)
	})
}

func TestServerContinuation(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello))
		tst.greet()
		block := tst.encode(reqFields("GET", "/split", "x-long", strings.Repeat("v", 3000))...)
		tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:10], EndStream: true})
		tst.fr.WriteContinuation(1, false, block[10:20])
		tst.fr.WriteContinuation(1, true, block[20:])
		if r := tst.wantResponse(1); r.body != "hello /split" {
			t.Fatalf("got %+v", r)
		}
	})
}

func TestServerContinuationInterrupted(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello))
		tst.greet()
		block := tst.encode(reqFields("GET", "/")...)
		tst.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:5], EndStream: true})
		tst.fr.WritePing(false, [8]byte{})
		tst.wantGoAway(ErrCodeProtocol)
		tst.wantClosed()
	})
}

func TestServerStreamIDRules(t *testing.T) {
	t.Run("even", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, HandlerFunc(hello))
			tst.greet()
			tst.get(2, "/")
			tst.wantGoAway(ErrCodeProtocol)
		})
	})
	t.Run("decreasing", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, HandlerFunc(hello))
			tst.greet()
			tst.get(5, "/")
			tst.wantResponse(5)
			tst.get(3, "/")
			tst.wantGoAway(ErrCodeProtocol)
			tst.wantClosed()
		})
	})
	t.Run("data_on_idle", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, HandlerFunc(hello))
			tst.greet()
			tst.fr.WriteData(1, true, []byte("x"))
			tst.wantGoAway(ErrCodeProtocol)
		})
	})
	t.Run("rst_on_idle", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, HandlerFunc(hello))
			tst.greet()
			tst.fr.WriteRSTStream(1, http2.ErrCodeCancel)
			tst.wantGoAway(ErrCodeProtocol)
		})
	})
	t.Run("window_update_on_idle", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, HandlerFunc(hello))
			tst.greet()
			tst.fr.WriteWindowUpdate(1, 10)
			tst.wantGoAway(ErrCodeProtocol)
		})
	})
}

func TestServerMaxConcurrentStreams(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, func(s *Server) { s.MaxConcurrentStreams = 2 })
		tst.greet()
		tst.get(1, "/")
		tst.get(3, "/")
		c1, c3 := tst.call(1), tst.call(3)
		tst.get(5, "/")
		tst.wantRSTStream(5, ErrCodeRefusedStream)
		tst.wantNoCall()
		close(c1.release)
		tst.wantResponse(1)
		tst.get(7, "/") // a slot is free again
		c7 := tst.call(7)
		close(c3.release)
		close(c7.release)
		tst.wantResponses(3, 7)
	})
}

func TestServerMalformedRequests(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []string
	}{
		{"uppercase_name", reqFields("GET", "/", "X-Upper", "1")},
		{"connection_header", reqFields("GET", "/", "connection", "keep-alive")},
		{"transfer_encoding", reqFields("GET", "/", "transfer-encoding", "chunked")},
		{"te_gzip", reqFields("GET", "/", "te", "gzip")},
		{"missing_path", []string{":method", "GET", ":scheme", "https", ":authority", "a"}},
		{"empty_path", reqFields("GET", "")},
		{"missing_method", []string{":scheme", "https", ":path", "/"}},
		{"missing_scheme", []string{":method", "GET", ":path", "/"}},
		{"duplicate_pseudo", append(reqFields("GET", "/"), ":path", "/again")},
		{"pseudo_after_regular", []string{":method", "GET", "accept", "*/*", ":scheme", "https", ":path", "/"}},
		{"unknown_pseudo", reqFields("GET", "/", ":color", "red")},
		{"response_pseudo", append([]string{":status", "200"}, reqFields("GET", "/")...)},
		{"value_with_newline", reqFields("GET", "/", "x-a", "b\nc")},
		{"value_with_nul", reqFields("GET", "/", "x-a", "b\x00c")},
		{"value_leading_space", reqFields("GET", "/", "x-a", " b")},
		{"bad_content_length", reqFields("GET", "/", "content-length", "12a")},
		{"content_length_without_body", reqFields("POST", "/", "content-length", "5")},
		{"connect_with_path", []string{":method", "CONNECT", ":authority", "a:443", ":path", "/"}},
		{"relative_path", reqFields("GET", "index.html")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := newServerTester(t, nil)
				tst.greet()
				tst.writeHeaders(1, true, tc.fields...)
				tst.wantRSTStream(1, ErrCodeProtocol)
				tst.wantNoCall()
				// Only the stream failed.
				tst.writeHeaders(3, true, reqFields("GET", "/")...)
				close(tst.call(3).release)
				tst.wantResponse(3)
			})
		})
	}
}

func TestServerRequestHead(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		tst.writeHeaders(1, true, reqFields("GET", "/p?q=1", "accept", "a", "cookie", "a=1", "x-multi", "1", "cookie", "b=2", "x-multi", "2")...)
		c := tst.call(1)
		r := c.st.Request()
		if r.Method != "GET" || r.Scheme != "https" || r.Authority != "example.com" || r.Path != "/p?q=1" || r.ContentLength != -1 {
			t.Errorf("request = %+v", r)
		}
		if got := fieldsString(r.Fields); got != "accept=a cookie=a=1 x-multi=1 cookie=b=2 x-multi=2" {
			t.Errorf("fields = %s", got)
		}
		h := r.Header()
		if h.Get("Cookie") != "a=1; b=2" || strings.Join(h["X-Multi"], ",") != "1,2" {
			t.Errorf("header = %v", h)
		}
		if r.RemoteAddr.String() != "client:5000" || r.TLS != nil {
			t.Errorf("remote %v tls %v", r.RemoteAddr, r.TLS)
		}
		close(c.release)
		tst.wantResponse(1)
	})
}

func TestServerRequestBodyAndTrailers(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/", "content-length", "11")...)
		c := tst.call(1)
		tst.fr.WriteData(1, false, []byte("hello "))
		tst.fr.WriteDataPadded(1, false, []byte("world"), make([]byte, 20))
		tst.writeHeaders(1, true, "x-checksum", "abc")
		if got := readAll(t, c.st); got != "hello world" {
			t.Fatalf("body %q", got)
		}
		if got := c.st.Trailers().Get("X-Checksum"); got != "abc" {
			t.Fatalf("trailers %v", c.st.Trailers())
		}
		close(c.release)
		tst.wantResponse(1)
	})
}

func TestServerBadTrailers(t *testing.T) {
	t.Run("pseudo", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, nil)
			tst.greet()
			tst.writeHeaders(1, false, reqFields("POST", "/")...)
			c := tst.call(1)
			tst.writeHeaders(1, true, ":path", "/x")
			tst.wantRSTStream(1, ErrCodeProtocol)
			_, err := c.st.Read(make([]byte, 1))
			wantStreamError(t, err, ErrCodeProtocol)
			if c.st.Context().Err() == nil {
				t.Error("context not cancelled")
			}
		})
	})
	t.Run("without_end_stream", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, nil)
			tst.greet()
			tst.writeHeaders(1, false, reqFields("POST", "/")...)
			tst.call(1)
			tst.writeHeaders(1, false, "x-a", "b")
			tst.wantRSTStream(1, ErrCodeProtocol)
		})
	})
}

func TestServerContentLengthMismatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(tst *serverTester)
	}{
		{"too_much", func(tst *serverTester) { tst.fr.WriteData(1, true, []byte("123456")) }},
		{"too_little", func(tst *serverTester) { tst.fr.WriteData(1, true, []byte("1234")) }},
		{"too_little_then_trailers", func(tst *serverTester) {
			tst.fr.WriteData(1, false, []byte("1234"))
			tst.writeHeaders(1, true, "x-t", "1")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := newServerTester(t, nil)
				tst.greet()
				tst.writeHeaders(1, false, reqFields("POST", "/", "content-length", "5")...)
				c := tst.call(1)
				tc.send(tst)
				tst.wantRSTStream(1, ErrCodeProtocol)
				_, err := io.ReadAll(c.st)
				wantStreamError(t, err, ErrCodeProtocol)
			})
		})
	}
}

func TestServerFullDuplex(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(func(st *Stream) {
			buf := make([]byte, 100)
			for {
				n, err := st.Read(buf)
				if n > 0 {
					st.Write(bytes.ToUpper(buf[:n]))
					st.Flush()
				}
				if err != nil {
					return
				}
			}
		}))
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/")...)
		tst.fr.WriteData(1, false, []byte("ping"))
		tst.wantHeaders(1, false)
		tst.wantData(1, false, "PING")
		tst.fr.WriteData(1, false, []byte("pong"))
		tst.wantData(1, false, "PONG")
		tst.fr.WriteData(1, true, nil)
		tst.wantData(1, true, "")
	})
}

func TestServerHalfClose(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/")...)
		c := tst.call(1)
		io.WriteString(c.st, "early answer")
		c.st.Close() // END_STREAM on our side only
		tst.wantHeaders(1, false)
		tst.wantData(1, true, "early answer")
		tst.fr.WriteData(1, true, []byte("late body"))
		if got := readAll(t, c.st); got != "late body" {
			t.Fatalf("read %q after Close", got)
		}
		if _, err := c.st.Write([]byte("x")); err == nil {
			t.Fatal("Write after Close succeeded")
		}
		close(c.release)
		tst.wantIdle() // the stream is closed both ways: nothing more to send
	})
}

func TestServerUnreadBodyGetsResetAfterResponse(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(func(st *Stream) { io.WriteString(st, "no thanks") }))
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/upload")...)
		tst.fr.WriteData(1, false, []byte("part"))
		tst.wantHeaders(1, false)
		tst.wantData(1, true, "no thanks")
		// RFC 9113 section 8.1: a complete response, then RST_STREAM NO_ERROR.
		tst.wantRSTStream(1, ErrCodeNo)
	})
}

func TestServerHandlerPanicResetsOnlyItsStream(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(func(st *Stream) {
			if st.Request().Path == "/boom" {
				panic("boom")
			}
			hello(st)
		}))
		tst.greet()
		tst.get(1, "/boom")
		tst.wantRSTStream(1, ErrCodeInternal)
		tst.get(3, "/fine")
		if r := tst.wantResponse(3); r.body != "hello /fine" {
			t.Fatalf("got %+v", r)
		}
		if logs := tst.logs.String(); !strings.Contains(logs, "panic") || !strings.Contains(logs, "server_test.go") {
			t.Errorf("log lacks the panic and its stack: %s", logs)
		}
	})
}

func TestServerHandlerReturnsWithoutResponse(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(func(*Stream) {}))
		tst.greet()
		tst.get(1, "/")
		h := tst.wantHeaders(1, true)
		if h.PseudoValue("status") != "200" {
			t.Fatalf("status %q", h.PseudoValue("status"))
		}
	})
}

func TestServerInformationalHeaders(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		tst.get(1, "/")
		c := tst.call(1)
		if err := c.st.WriteHeaders(103, http.Header{"Link": {"</a.css>; rel=preload"}}); err != nil {
			t.Fatal(err)
		}
		h := tst.wantHeaders(1, false)
		if h.PseudoValue("status") != "103" || h.RegularFields()[0].Value != "</a.css>; rel=preload" {
			t.Fatalf("got %v", summarize(h))
		}
		c.st.WriteHeaders(100, nil)
		tst.wantHeaders(1, false)
		if err := c.st.WriteHeaders(204, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.st.WriteHeaders(200, nil); err == nil {
			t.Fatal("a second final head was accepted")
		}
		if err := c.st.WriteHeaders(101, nil); err == nil {
			t.Fatal("101 was accepted")
		}
		close(c.release)
		if h := tst.wantHeaders(1, true); h.PseudoValue("status") != "204" {
			t.Fatalf("got %v", summarize(h))
		}
	})
}

func TestServerResponseTrailers(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(func(st *Stream) {
			st.WriteHeaders(200, http.Header{"Trailer": {"Grpc-Status"}})
			io.WriteString(st, "body")
			st.WriteTrailers(http.Header{"Grpc-Status": {"0"}})
		}))
		tst.greet()
		tst.get(1, "/")
		r := tst.wantResponse(1)
		if r.body != "body" || fieldsString(r.trailers) != "grpc-status=0" {
			t.Fatalf("got %+v", r)
		}
	})
}

func TestServerResponseHeaderRules(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		tst.get(1, "/")
		c := tst.call(1)
		if err := c.st.WriteHeaders(200, http.Header{"X-Bad": {"a\r\nb"}}); err == nil {
			t.Fatal("a value with CRLF was accepted")
		}
		c.st.WriteHeaders(200, http.Header{"Connection": {"close"}, "Transfer-Encoding": {"chunked"}, "X-Ok": {"1"}})
		close(c.release)
		h := tst.wantHeaders(1, true)
		if got := fieldsString(h.RegularFields()); got != "x-ok=1" {
			t.Fatalf("fields %s, want connection-specific ones dropped", got)
		}
	})
}

func TestServerClientReset(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/")...)
		c := tst.call(1)
		tst.fr.WriteRSTStream(1, http2.ErrCodeCancel)
		synctest.Wait()
		var se *StreamError
		if !errors.As(context.Cause(c.st.Context()), &se) || !se.Remote || se.Code != ErrCodeCancel {
			t.Fatalf("context cause %v", context.Cause(c.st.Context()))
		}
		_, err := c.st.Read(make([]byte, 1))
		wantStreamError(t, err, ErrCodeCancel)
		_, err = c.st.Write([]byte("x"))
		wantStreamError(t, err, ErrCodeCancel)
		close(c.release)
		tst.wantIdle() // nothing is sent on a stream the client reset
		// Frames on the closed stream: WINDOW_UPDATE is ignored, DATA is STREAM_CLOSED.
		tst.fr.WriteWindowUpdate(1, 100)
		tst.wantIdle()
		tst.fr.WriteData(1, false, []byte("x"))
		tst.wantRSTStream(1, ErrCodeStreamClosed)
	})
}

func TestServerHandlerResetAndCancelRead(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/")...)
		tst.writeHeaders(3, false, reqFields("POST", "/")...)
		c1, c3 := tst.call(1), tst.call(3)
		c1.st.Reset(ErrCodeEnhanceYourCalm)
		tst.wantRSTStream(1, ErrCodeEnhanceYourCalm)
		if _, err := c1.st.Write([]byte("x")); err == nil {
			t.Fatal("Write after Reset succeeded")
		}
		c3.st.CancelRead(ErrCodeNo)
		if _, err := c3.st.Read(make([]byte, 1)); err == nil {
			t.Fatal("Read after CancelRead succeeded")
		}
		tst.fr.WriteData(3, false, []byte("ignored"))
		io.WriteString(c3.st, "still answering")
		c3.st.Close()
		tst.wantHeaders(3, false)
		tst.wantData(3, true, "still answering")
		tst.wantRSTStream(3, ErrCodeNo)
		close(c1.release)
		close(c3.release)
	})
}

func TestServerReadDeadline(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/")...)
		c := tst.call(1)
		c.st.SetReadDeadline(time.Now().Add(time.Second))
		start := time.Now()
		_, err := c.st.Read(make([]byte, 1))
		if !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(start) != time.Second {
			t.Fatalf("Read = %v after %v", err, time.Since(start))
		}
		c.st.SetReadDeadline(time.Time{})
		tst.fr.WriteData(1, true, []byte("ok"))
		if got := readAll(t, c.st); got != "ok" {
			t.Fatalf("read %q", got)
		}
		close(c.release)
	})
}

func TestServerWriteDeadline(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		tst.get(1, "/")
		c := tst.call(1)
		c.st.SetWriteDeadline(time.Now().Add(time.Second))
		// The client grants no window, so the stream may buffer nothing.
		n, err := c.st.Write(make([]byte, 10))
		if !errors.Is(err, os.ErrDeadlineExceeded) || n != 0 {
			t.Fatalf("Write = %d, %v", n, err)
		}
		close(c.release)
	})
}

func TestServerStreamWindowUpdatesAreBatched(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, func(s *Server) { s.InitialStreamWindowSize = 4000 })
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/")...)
		c := tst.call(1)
		for range 40 {
			tst.fr.WriteData(1, false, make([]byte, 100))
		}
		tst.wantIdle() // the connection window is far from its threshold
		buf := make([]byte, 100)
		for i := range 40 {
			if n, err := c.st.Read(buf); n != 100 || err != nil {
				t.Fatalf("read %d: %d, %v", i, n, err)
			}
			if (i+1)%10 == 0 {
				tst.wantWindowUpdate(1, 1000) // one update per quarter window
			} else {
				tst.wantIdle()
			}
		}
		// The window is 4000 again; one byte more is a flow-control error.
		tst.fr.WriteData(1, false, make([]byte, 4001))
		tst.wantRSTStream(1, ErrCodeFlowControl)
		close(c.release)
	})
}

func TestServerConnWindowCreditedOnArrival(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, func(s *Server) { s.InitialConnWindowSize = 65535 })
		tst.writePreface()
		tst.fr.WriteSettings()
		wantFrame[*http2.SettingsFrame](tst)
		tst.wantSettingsAck()
		tst.fr.WriteSettingsAck()
		tst.writeHeaders(1, false, reqFields("POST", "/slow")...)
		tst.writeHeaders(3, false, reqFields("POST", "/fast")...)
		slow, fast := tst.call(1), tst.call(3)
		// Nobody reads stream 1, yet the connection window comes back.
		tst.fr.WriteData(1, false, make([]byte, 16384))
		tst.wantWindowUpdate(0, 16384)
		tst.fr.WriteData(1, false, make([]byte, 16383))
		tst.wantWindowUpdate(0, 16383)
		tst.fr.WriteData(3, true, []byte("fast"))
		if got := readAll(t, fast.st); got != "fast" {
			t.Fatalf("read %q", got)
		}
		close(slow.release)
		close(fast.release)
	})
}

func TestServerConnWindowOverrun(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, func(s *Server) {
			s.InitialConnWindowSize = 65535
			s.InitialStreamWindowSize = 1 << 20
			s.MaxReadFrameSize = 1 << 20
		})
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/")...)
		tst.call(1)
		tst.fr.WriteData(1, false, make([]byte, 65536))
		tst.wantGoAway(ErrCodeFlowControl)
		tst.wantClosed()
	})
}

func TestServerWindowUpdateErrors(t *testing.T) {
	t.Run("stream_zero_increment", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, nil)
			tst.greet()
			tst.writeHeaders(1, false, reqFields("POST", "/")...)
			c := tst.call(1)
			tst.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 1, []byte{0, 0, 0, 0})
			tst.wantRSTStream(1, ErrCodeProtocol)
			if c.st.Context().Err() == nil {
				t.Fatal("context not cancelled")
			}
		})
	})
	t.Run("conn_zero_increment", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, nil)
			tst.greet()
			tst.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 0, []byte{0, 0, 0, 0})
			tst.wantGoAway(ErrCodeProtocol)
		})
	})
	t.Run("stream_overflow", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, nil)
			tst.greet()
			tst.get(1, "/")
			tst.call(1)
			tst.fr.WriteWindowUpdate(1, 1<<31-1)
			tst.wantRSTStream(1, ErrCodeFlowControl)
		})
	})
	t.Run("conn_overflow", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := newServerTester(t, nil)
			tst.greet()
			tst.fr.WriteWindowUpdate(0, 1<<31-1)
			tst.wantGoAway(ErrCodeFlowControl)
		})
	})
}

func TestServerOutboundFlowControl(t *testing.T) {
	run(t, func(t *testing.T) {
		body := strings.Repeat("a", 100)
		tst := newServerTester(t, HandlerFunc(func(st *Stream) { io.WriteString(st, body) }))
		tst.greet(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 30})
		tst.get(1, "/")
		tst.get(3, "/")
		// Each stream sends its 30 bytes and waits; neither holds up the other.
		for range 4 {
			switch f := tst.readFrame().(type) {
			case *http2.MetaHeadersFrame:
			case *http2.DataFrame:
				if string(f.Data()) != body[:30] || f.StreamEnded() {
					t.Fatalf("got %v", summarize(f))
				}
			default:
				t.Fatalf("got %v", summarize(f))
			}
		}
		tst.wantIdle()
		tst.fr.WriteWindowUpdate(3, 100)
		tst.wantData(3, true, body[30:])
		tst.fr.WriteWindowUpdate(1, 50)
		tst.wantData(1, false, body[30:80])
		// A lower INITIAL_WINDOW_SIZE can make a window negative (RFC 9113
		// section 6.9.2): stream 1 has 0 left, and goes to -20.
		tst.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
		tst.wantSettingsAck()
		tst.fr.WriteWindowUpdate(1, 20)
		tst.wantIdle()
		tst.fr.WriteWindowUpdate(1, 20)
		tst.wantData(1, true, body[80:])
	})
}

func TestServerConnectionWindowShared(t *testing.T) {
	run(t, func(t *testing.T) {
		body := strings.Repeat("b", 40000)
		tst := newServerTester(t, HandlerFunc(func(st *Stream) { io.WriteString(st, body) }))
		tst.greet()
		tst.get(1, "/")
		got, asked := 0, false
		for got < 65535 {
			f := tst.readFrame()
			if d, ok := f.(*http2.DataFrame); ok {
				got += len(d.Data())
				if len(d.Data()) > 16384 {
					t.Fatalf("DATA of %d bytes exceeds MAX_FRAME_SIZE", len(d.Data()))
				}
			} else if f == nil {
				break
			}
			if got == 40000 && !asked {
				asked = true
				tst.get(3, "/")
			}
		}
		if got != 65535 {
			t.Fatalf("sent %d bytes, want exactly the 65535 of the connection window", got)
		}
		tst.fr.WriteWindowUpdate(0, 14465)
		r3 := 0
		for r3 < 14465 {
			d := wantFrame[*http2.DataFrame](tst)
			r3 += len(d.Data())
		}
		tst.wantIdle()
	})
}

// TestServerWritesAreBatched: frames queued while a socket write is under
// way leave together in the next write. How many of a burst's responses
// make the first write depends on the scheduler, so the test holds the
// socket still (a client that does not read) until every handler is done:
// one write waits with whatever was ready when the writer woke, and all
// the rest must follow in one more. How few writes a burst takes when
// nothing holds the socket is a figure, BenchmarkServerWritesPerBurst.
func TestServerWritesAreBatched(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello))
		tst.greet()
		synctest.Wait()
		before := tst.sc.writeCount()
		tst.sc.stallWrites(true)
		// Ten requests in one client write.
		var buf bytes.Buffer
		fr := http2.NewFramer(&buf, nil)
		for i := uint32(1); i <= 19; i += 2 {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: i, BlockFragment: tst.encode(reqFields("GET", "/")...), EndStream: true, EndHeaders: true})
		}
		tst.cc.Write(buf.Bytes())
		synctest.Wait() // the handlers are done; the writer waits on the socket
		tst.sc.stallWrites(false)
		tst.wantResponses(1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
		if n := tst.sc.writeCount() - before; n > 2 {
			t.Errorf("10 responses took %d socket writes, want at most 2: the one that waited, then everything queued behind it", n)
		}
	})
}

func TestServerClientGoAway(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		tst.get(1, "/")
		c := tst.call(1)
		tst.fr.WriteGoAway(0, http2.ErrCodeNo, nil)
		if f := tst.wantGoAway(ErrCodeNo); f.LastStreamID != 1 {
			t.Fatalf("GOAWAY names %d, want 1", f.LastStreamID)
		}
		tst.wantIdle() // stream 1 still runs
		close(c.release)
		tst.wantResponse(1)
		tst.wantClosed()
	})
}

func TestServerIdleTimeout(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello), func(s *Server) { s.IdleTimeout = time.Minute })
		tst.greet()
		time.Sleep(59 * time.Second)
		tst.get(1, "/")
		tst.wantResponse(1)
		time.Sleep(59 * time.Second)
		tst.wantIdle() // the clock restarted when the stream closed
		time.Sleep(time.Second)
		if f := tst.wantGoAway(ErrCodeNo); f.LastStreamID != 1 {
			t.Fatalf("last stream %d", f.LastStreamID)
		}
		tst.wantClosed()
	})
}

func TestServerGracefulShutdown(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		tst.get(1, "/")
		c := tst.call(1)
		done := make(chan error, 1)
		go func() { done <- tst.srv.Shutdown(context.Background()) }()
		if f := tst.wantGoAway(ErrCodeNo); f.LastStreamID != 1<<31-1 {
			t.Fatalf("first GOAWAY names %d, want 2^31-1", f.LastStreamID)
		}
		ping := wantFrame[*http2.PingFrame](tst)
		tst.get(3, "/") // in flight before the client saw GOAWAY: still served
		tst.fr.WritePing(true, ping.Data)
		if f := tst.wantGoAway(ErrCodeNo); f.LastStreamID != 3 {
			t.Fatalf("final GOAWAY names %d, want 3", f.LastStreamID)
		}
		c3 := tst.call(3)
		tst.get(5, "/") // after the final GOAWAY: refused
		tst.wantRSTStream(5, ErrCodeRefusedStream)
		tst.wantNoCall()
		close(c.release)
		close(c3.release)
		tst.wantResponses(1, 3)
		tst.wantClosed()
		if err := <-done; err != nil {
			t.Fatalf("Shutdown = %v", err)
		}
		if err := <-tst.served; err != nil {
			t.Fatalf("ServeConn = %v", err)
		}
	})
}

func TestServerFrameTooLarge(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/")...)
		tst.fr.WriteData(1, false, make([]byte, 16385))
		tst.wantGoAway(ErrCodeFrameSize)
	})
}

func TestServerHeaderListTooLarge(t *testing.T) {
	run(t, func(t *testing.T) {
		// The hooks see the 431 as a stream like any other: started,
		// then ended with its status.
		var started, ended atomic.Int32
		var statuses []int
		hooks := &Hooks{
			StreamStarted: func(*StreamInfo) { started.Add(1) },
			StreamEnded: func(s *StreamInfo) {
				statuses = append(statuses, s.Status) // one stream ends at a time here
				ended.Add(1)
			},
		}
		tst := newServerTester(t, nil, func(s *Server) { s.MaxHeaderListSize = 2000; s.Hooks = hooks })
		tst.greet()
		tst.writeHeaders(1, true, reqFields("GET", "/", "x-big", strings.Repeat("v", 1900))...)
		if h := tst.wantHeaders(1, true); h.PseudoValue("status") != "431" {
			t.Fatalf("got %v, want 431", summarize(h))
		}
		tst.wantNoCall()
		// HPACK state is intact: the next request decodes.
		tst.writeHeaders(3, true, reqFields("GET", "/ok")...)
		c := tst.call(3)
		if c.st.Request().Path != "/ok" {
			t.Fatalf("path %q", c.st.Request().Path)
		}
		close(c.release)
		tst.wantResponses(3)
		synctest.Wait()
		if s, e := started.Load(), ended.Load(); s != 2 || e != 2 || len(statuses) == 0 || statuses[0] != 431 {
			t.Errorf("StreamStarted %d times, StreamEnded %d (statuses %v); want 2, 2, the first 431", s, e, statuses)
		}
	})
}

func TestServerWriteQuotaFollowsWindow(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100})
		tst.get(1, "/")
		c := tst.call(1)
		done := make(chan int, 1)
		go func() {
			n, _ := c.st.Write(make([]byte, 250))
			done <- n
		}()
		synctest.Wait()
		if n := c.st.send.buf.Len(); n > 100 {
			t.Fatalf("stream buffers %d bytes with a 100-byte window", n)
		}
		tst.wantHeaders(1, false)
		wantFrame[*http2.DataFrame](tst)
		tst.fr.WriteWindowUpdate(1, 150)
		if n := <-done; n != 250 {
			t.Fatalf("Write = %d", n)
		}
		c.st.Flush()
		if f := wantFrame[*http2.DataFrame](tst); len(f.Data()) != 150 {
			t.Fatalf("got %d bytes, want the 150 the window allows", len(f.Data()))
		}
		close(c.release)
	})
}

func TestServerStallTimeout(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, func(s *Server) { s.StallTimeout = 10 * time.Second })
		tst.greet(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		tst.get(1, "/")
		c := tst.call(1)
		start := time.Now()
		_, err := c.st.Write([]byte("never sent"))
		if time.Since(start) != 10*time.Second {
			t.Errorf("Write gave up after %v", time.Since(start))
		}
		wantStreamError(t, err, ErrCodeCancel)
		tst.wantHeaders(1, false) // the head needs no window
		tst.wantRSTStream(1, ErrCodeCancel)
		close(c.release)
	})
}

func TestServerRapidResetRunsOutOfBudget(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, HandlerFunc(hello), func(s *Server) { s.MaxGlitchesPerMinute = 50 })
		tst.greet()
		for id := uint32(1); id < 200; id += 2 {
			tst.get(id, "/")
			tst.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		for {
			f := tst.readFrame()
			if g, ok := f.(*http2.GoAwayFrame); ok {
				if ErrCode(g.ErrCode) != ErrCodeEnhanceYourCalm {
					t.Fatalf("got %v", summarize(g))
				}
				break
			}
			if f == nil {
				t.Fatal("no GOAWAY after 100 rapid resets with a budget of 50")
			}
		}
		tst.wantClosed()
	})
}

func TestServerHandlersBoundedAfterResets(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil, func(s *Server) { s.MaxConcurrentStreams = 4 })
		tst.greet()
		// Handlers that ignore their context keep running after a reset.
		for id := uint32(1); id <= 7; id += 2 {
			tst.get(id, "/")
			tst.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		calls := []*handlerCall{tst.call(1), tst.call(3), tst.call(5), tst.call(7)}
		// Protocol slots are free again, handler slots are not: new streams queue.
		tst.get(9, "/")
		tst.wantNoCall()
		close(calls[0].release)
		c9 := tst.call(9)
		// The queue is small (4/4+4 = 5): beyond it the client must calm down.
		for id := uint32(11); id <= 21; id += 2 {
			tst.get(id, "/")
			tst.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}
		tst.wantGoAway(ErrCodeEnhanceYourCalm)
		for _, c := range calls[1:] {
			close(c.release)
		}
		close(c9.release)
	})
}

func TestServerControlFramesThrottleReader(t *testing.T) {
	run(t, func(t *testing.T) {
		// The PING policy (pings.go) would end this flood first.
		tst := newServerTester(t, HandlerFunc(hello), func(s *Server) { s.MaxQueuedControlFrames, s.MinPingInterval = 10, -1 })
		tst.greet()
		// A client that does not read: the server's socket writes block.
		tst.sc.stallWrites(true)
		var buf bytes.Buffer
		fr := http2.NewFramer(&buf, nil)
		for range 100 {
			fr.WritePing(false, [8]byte{})
		}
		go tst.cc.Write(buf.Bytes())
		synctest.Wait()
		queued := tst.srv.liveConns()[0].wq.controlQueued()
		tst.sc.stallWrites(false)
		if queued > 11 {
			t.Fatalf("%d control frames queued, want the reader stopped near 10", queued)
		}
		for range 100 {
			if f := wantFrame[*http2.PingFrame](tst); !f.IsAck() {
				t.Fatal("want PING ACK")
			}
		}
	})
}

func TestServerHooks(t *testing.T) {
	run(t, func(t *testing.T) {
		var events []string
		var ended *StreamInfo
		var mu sync.Mutex
		rec := func(e string) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
		}
		hooks := &Hooks{
			ConnOpened:    func(*ConnInfo) { rec("open") },
			ConnClosed:    func(*ConnInfo) { rec("close") },
			StreamStarted: func(s *StreamInfo) { rec("start " + s.Request.Path) },
			StreamEnded: func(s *StreamInfo) {
				rec("end " + s.Request.Path)
				if s.StreamID == 1 {
					ended = s
				}
			},
			Rejected: func(r *Rejection) { rec("reject " + r.Reason) },
		}
		frames := map[string]int{}
		hooks.FrameRead = func(_ *ConnInfo, h http2.FrameHeader) { mu.Lock(); frames["read "+h.Type.String()]++; mu.Unlock() }
		hooks.FrameWritten = func(_ *ConnInfo, h http2.FrameHeader) { mu.Lock(); frames["wrote "+h.Type.String()]++; mu.Unlock() }
		tst := newServerTester(t, HandlerFunc(hello), func(s *Server) { s.Hooks = hooks })
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/up")...)
		tst.fr.WriteData(1, true, []byte("12345"))
		tst.wantResponse(1)
		tst.writeHeaders(3, true, reqFields("GET", "/", "te", "gzip")...)
		tst.wantRSTStream(3, ErrCodeProtocol)
		tst.cc.Close()
		synctest.Wait()
		want := "open,start /up,end /up,reject te_not_trailers,close"
		if got := strings.Join(events, ","); got != want {
			t.Errorf("events %s\nwant   %s", got, want)
		}
		if ended == nil || ended.Status != 200 || ended.BytesIn != 5 || ended.BytesOut != int64(len("hello /up")) || ended.Err != nil {
			t.Errorf("ended = %+v", ended)
		}
		if frames["read HEADERS"] != 2 || frames["read DATA"] != 1 || frames["wrote RST_STREAM"] != 1 || frames["wrote SETTINGS"] != 2 {
			t.Errorf("frames = %v", frames)
		}
	})
}

func TestServerResponseBodyRules(t *testing.T) {
	run(t, func(t *testing.T) {
		tst := newServerTester(t, nil)
		tst.greet()
		tst.writeHeaders(1, true, reqFields("HEAD", "/")...)
		tst.get(3, "/")
		tst.get(5, "/")
		tst.get(7, "/")
		head, long, short, empty := tst.call(1), tst.call(3), tst.call(5), tst.call(7)

		head.st.WriteHeaders(200, http.Header{"Content-Length": {"5"}})
		if n, err := io.WriteString(head.st, "hello"); n != 5 || err != nil {
			t.Errorf("HEAD Write = %d, %v; want the body discarded", n, err)
		}
		close(head.release)
		if h := tst.wantHeaders(1, true); h.PseudoValue("status") != "200" {
			t.Fatalf("got %v", summarize(h))
		}

		long.st.WriteHeaders(200, http.Header{"Content-Length": {"3"}})
		if _, err := io.WriteString(long.st, "four"); err != ErrContentLength {
			t.Errorf("Write past Content-Length = %v", err)
		}
		io.WriteString(long.st, "abc")
		close(long.release)
		tst.wantHeaders(3, false)
		tst.wantData(3, true, "abc")

		short.st.WriteHeaders(200, http.Header{"Content-Length": {"3"}})
		io.WriteString(short.st, "ab")
		if err := short.st.Close(); err != ErrContentLength {
			t.Errorf("Close short of Content-Length = %v", err)
		}
		tst.wantRSTStream(5, ErrCodeInternal)
		close(short.release)

		empty.st.WriteHeaders(204, nil)
		if _, err := io.WriteString(empty.st, "x"); err != ErrBodyNotAllowed {
			t.Errorf("Write after 204 = %v", err)
		}
		close(empty.release)
		tst.wantHeaders(7, true)
	})
}

func TestServerBadConfig(t *testing.T) {
	for _, s := range []*Server{
		{},
		{Handler: HandlerFunc(hello), MaxReadFrameSize: 100},
		{Handler: HandlerFunc(hello), InitialConnWindowSize: 1000},
		{Handler: HandlerFunc(hello), InitialStreamWindowSize: -1},
		{Handler: HandlerFunc(hello), MaxHeaderListSize: 10},
	} {
		sc, _ := newPipe()
		if err := s.ServeConn(sc); err == nil || !strings.HasPrefix(err.Error(), "h2server: ") {
			t.Errorf("ServeConn with %+v = %v, want a configuration error", s, err)
		}
	}
}

var _ = hpack.HeaderField{}

// TestStreamSize guards the memory of an open stream: the allocation is
// the Stream plus the 8-byte header Go puts before objects over 512 bytes
// that hold pointers, and past 576 bytes it moves to the 640-byte size
// class, 64 bytes more for every open stream. bench/run.sh measures the
// whole (RSS per open stream); see README.
// TestConnSize: an idle connection's conn and writer stay in the size
// classes they have (640 and 112 bytes): every idle connection holds both.
// A conn holds pointers and is over 512 bytes, so Go puts an 8-byte header
// before it, as before a Stream (it counted 704 bytes without the header,
// and took the 768-byte class).
func TestConnSize(t *testing.T) {
	const mallocHeader = 8
	if n := unsafe.Sizeof(conn{}) + mallocHeader; n > 640 {
		t.Errorf("a conn takes %d bytes with its malloc header, over the 640-byte size class", n)
	}
	if n := unsafe.Sizeof(writer{}); n > 112 {
		t.Errorf("a writer takes %d bytes, over the 112-byte size class; move what only a running writer needs into writeFramer", n)
	}
}

func TestStreamSize(t *testing.T) {
	const mallocHeader = 8
	if n := unsafe.Sizeof(Stream{}) + mallocHeader; n > 576 {
		t.Errorf("a Stream takes %d bytes, over the 576-byte size class; move rarely used fields behind Stream.extras", n)
	}
}
