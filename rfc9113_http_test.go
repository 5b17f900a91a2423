package h2server

// RFC 9113 section 8, HTTP semantics: request exchanges and trailers
// (8.1), content-length (8.1.1), field validity and connection-specific
// fields (8.2.x), pseudo-header fields (8.3, 8.3.1), and push (8.4); h2spec
// http2/8.x and generic/4. Shared helpers are in conformance_test.go.

import (
	"testing"

	"golang.org/x/net/http2"
)

// confMalformed sends a request with fields on stream 3.
func confMalformed(name string, fields ...string) confStreamCase {
	return confStreamCase{
		name:      name,
		provoke:   func(tst *serverTester) { tst.writeHeaders(3, true, fields...) },
		code:      ErrCodeProtocol,
		noHandler: true,
	}
}

// h2spec http2/8.1 and generic/4.

func TestRFC9113_8_1_RequestExchanges(t *testing.T) {
	// h2spec generic/4/1-4, and the two request forms without a path.
	for _, tc := range []struct {
		name string
		send func(tst *serverTester)
		body string // of the response
	}{
		{"get", func(tst *serverTester) { tst.get(1, "/get") }, "response to /get"},
		// A response to HEAD has no body (RFC 9110 section 9.3.2).
		{"head", func(tst *serverTester) { tst.writeHeaders(1, true, reqFields("HEAD", "/head")...) }, ""},
		{"post", func(tst *serverTester) {
			tst.writeHeaders(1, false, reqFields("POST", "/post")...)
			tst.fr.WriteData(1, true, []byte("test"))
		}, "response to /post"},
		{"post_with_trailers", func(tst *serverTester) {
			tst.writeHeaders(1, false, reqFields("POST", "/trailers", "trailer", "x-test")...)
			tst.fr.WriteData(1, false, []byte("test"))
			tst.writeHeaders(1, true, "x-test", "ok")
		}, "response to /trailers"},
		{"options_asterisk", func(tst *serverTester) { tst.writeHeaders(1, true, reqFields("OPTIONS", "*")...) }, "response to *"},
		{"connect", func(tst *serverTester) {
			tst.writeHeaders(1, true, ":method", "CONNECT", ":authority", "example.com:443")
		}, "response to "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := confStart(t, HandlerFunc(confHandler))
				tc.send(tst)
				if r := tst.wantResponse(1); r.status != "200" || r.body != tc.body {
					t.Fatalf("got %+v, want 200 %q", r, tc.body)
				}
				tst.wantIdle()
			})
		})
	}
}

func TestRFC9113_8_1_TrailersWithoutEndStreamIsStreamError(t *testing.T) {
	// h2spec http2/8.1/1: a second HEADERS frame must end the stream.
	confStreamErrors(t, []confStreamCase{
		{name: "h2spec", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			tst.call(3)
			tst.fr.WriteData(3, false, []byte("test"))
			tst.writeHeaders(3, false, "x-test", "ok")
		}},
		{name: "no_data", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			tst.call(3)
			tst.writeHeaders(3, false, "x-test", "ok")
		}},
	})
}

// h2spec http2/8.1.2.6.

func TestRFC9113_8_1_1_ContentLengthMismatchIsStreamError(t *testing.T) {
	// h2spec http2/8.1.2.6/1-2: "A request or response is also malformed
	// if the value of a content-length header field does not equal the
	// sum of the DATA frame payload lengths".
	post := func(tst *serverTester, cl string) {
		tst.writeHeaders(3, false, reqFields("POST", "/", "content-length", cl)...)
		tst.call(3)
	}
	confStreamErrors(t, []confStreamCase{
		{name: "one_data_frame", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			post(tst, "1")
			tst.fr.WriteData(3, true, []byte("test"))
		}},
		{name: "several_data_frames", code: ErrCodeProtocol, more: true, provoke: func(tst *serverTester) {
			post(tst, "1")
			tst.fr.WriteData(3, false, []byte("test"))
			tst.fr.WriteData(3, true, []byte("test"))
		}},
		{name: "too_little", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			post(tst, "10")
			tst.fr.WriteData(3, true, []byte("test"))
		}},
		{name: "too_little_then_trailers", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			post(tst, "10")
			tst.fr.WriteData(3, false, []byte("test"))
			tst.writeHeaders(3, true, "x-t", "1")
		}},
		{name: "padding_does_not_count", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			post(tst, "5")
			tst.fr.WriteDataPadded(3, true, []byte("test"), make([]byte, 1))
		}},
		confMalformed("end_stream_with_content_length", reqFields("POST", "/", "content-length", "4")...),
		confMalformed("two_different_values", reqFields("POST", "/", "content-length", "4", "content-length", "5")...),
		confMalformed("not_a_number", reqFields("POST", "/", "content-length", "4x")...),
		confMalformed("negative", reqFields("POST", "/", "content-length", "-1")...),
	})
}

// h2spec http2/8.1.2.

func TestRFC9113_8_2_1_FieldValidity(t *testing.T) {
	// h2spec http2/8.1.2/1 (uppercase names), and the other rules of
	// section 8.2.1: "A request or response that contains a field that
	// violates any of these conditions MUST be treated as malformed".
	confStreamErrors(t, []confStreamCase{
		confMalformed("uppercase_name", reqFields("GET", "/", "X-TEST", "ok")...),
		confMalformed("name_with_space", reqFields("GET", "/", "x test", "ok")...),
		confMalformed("name_with_colon", reqFields("GET", "/", "x:test", "ok")...),
		confMalformed("name_with_del", reqFields("GET", "/", "x\x7ftest", "ok")...),
		confMalformed("name_with_high_byte", reqFields("GET", "/", "x\xc3\xa9", "ok")...),
		confMalformed("empty_name", reqFields("GET", "/", "", "ok")...),
		confMalformed("value_with_nul", reqFields("GET", "/", "x-test", "o\x00k")...),
		confMalformed("value_with_cr", reqFields("GET", "/", "x-test", "o\rk")...),
		confMalformed("value_with_lf", reqFields("GET", "/", "x-test", "o\nk")...),
		confMalformed("value_leading_space", reqFields("GET", "/", "x-test", " ok")...),
		confMalformed("value_trailing_tab", reqFields("GET", "/", "x-test", "ok\t")...),
		confMalformed("pseudo_value_with_lf", reqFields("GET", "/a\nb")...),
	})
	t.Run("valid_unusual_fields_accepted", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.writeHeaders(1, true, reqFields("GET", "/", "x-!#$%&'*+-.^_`|~09", "", "x-inner", "a \t b", "x-high", "\x80\xff")...)
			tst.wantResponse(1)
		})
	})
}

// h2spec http2/8.1.2.2.

func TestRFC9113_8_2_2_ConnectionSpecificFieldsAreStreamErrors(t *testing.T) {
	// h2spec http2/8.1.2.2/1-2: "An endpoint MUST NOT generate an HTTP/2
	// message containing connection-specific header fields. ... Any
	// message containing connection-specific header fields MUST be
	// treated as malformed": a stream error (RST_STREAM PROTOCOL_ERROR),
	// not a 400 response.
	confStreamErrors(t, []confStreamCase{
		confMalformed("connection", reqFields("GET", "/", "connection", "keep-alive")...),
		confMalformed("keep_alive", reqFields("GET", "/", "keep-alive", "timeout=5")...),
		confMalformed("proxy_connection", reqFields("GET", "/", "proxy-connection", "keep-alive")...),
		confMalformed("transfer_encoding", reqFields("GET", "/", "transfer-encoding", "chunked")...),
		confMalformed("upgrade", reqFields("GET", "/", "upgrade", "websocket")...),
		confMalformed("te_other_than_trailers", reqFields("GET", "/", "trailers", "test", "te", "trailers, deflate")...),
		confMalformed("te_gzip", reqFields("GET", "/", "te", "gzip")...),
		{name: "in_trailers", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			tst.call(3)
			tst.writeHeaders(3, true, "connection", "close")
		}},
	})
	t.Run("te_trailers_accepted", func(t *testing.T) {
		run(t, func(t *testing.T) {
			tst := confStart(t, HandlerFunc(confHandler))
			tst.writeHeaders(1, true, reqFields("GET", "/te", "te", "trailers")...)
			if r := tst.wantResponse(1); r.body != "response to /te" {
				t.Fatalf("got %+v", r)
			}
		})
	})
}

// h2spec http2/8.1.2.1.

func TestRFC9113_8_3_PseudoHeaderFields(t *testing.T) {
	// h2spec http2/8.1.2.1/1-4: only the request pseudo-header fields,
	// only in the header section, only before the regular fields.
	confStreamErrors(t, []confStreamCase{
		confMalformed("unknown", reqFields("GET", "/", ":test", "ok")...),
		confMalformed("response_pseudo", reqFields("GET", "/", ":status", "200")...),
		confMalformed("protocol_without_extended_connect", reqFields("GET", "/", ":protocol", "websocket")...),
		confMalformed("after_regular", append([]string{"x-test", "ok"}, reqFields("GET", "/")...)...),
		confMalformed("between_regular", []string{":method", "GET", ":scheme", "https", "x-test", "ok", ":path", "/", ":authority", "a"}...),
		{name: "in_trailers", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			// h2spec sends these trailers without END_STREAM as well.
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			tst.call(3)
			tst.fr.WriteData(3, false, []byte("test"))
			tst.writeHeaders(3, true, ":method", "POST")
		}},
		{name: "in_trailers_h2spec", code: ErrCodeProtocol, provoke: func(tst *serverTester) {
			tst.writeHeaders(3, false, reqFields("POST", "/")...)
			tst.call(3)
			tst.fr.WriteData(3, false, []byte("test"))
			tst.writeHeaders(3, false, ":method", "POST")
		}},
	})
}

// h2spec http2/8.1.2.3.

func TestRFC9113_8_3_1_RequestPseudoHeaderFields(t *testing.T) {
	// h2spec http2/8.1.2.3/1-7: ":method", ":scheme" and ":path" once
	// each, ":path" not empty; all requests other than CONNECT.
	confStreamErrors(t, []confStreamCase{
		confMalformed("empty_path", reqFields("GET", "")...),
		confMalformed("missing_method", ":scheme", "https", ":path", "/", ":authority", "a"),
		confMalformed("missing_method_h2spec", ":path", "/", ":authority", "a"),
		confMalformed("missing_scheme", ":method", "GET", ":path", "/", ":authority", "a"),
		confMalformed("missing_path", ":method", "GET", ":scheme", "https", ":authority", "a"),
		confMalformed("duplicate_method", append(reqFields("GET", "/"), ":method", "GET")...),
		confMalformed("duplicate_scheme", append(reqFields("GET", "/"), ":scheme", "https")...),
		confMalformed("duplicate_path", append(reqFields("GET", "/"), ":path", "/")...),
		confMalformed("duplicate_authority", append(reqFields("GET", "/"), ":authority", "b")...),
		confMalformed("empty_method", reqFields("", "/")...),
		confMalformed("empty_scheme", ":method", "GET", ":scheme", "", ":path", "/"),
		confMalformed("relative_path", reqFields("GET", "index.html")...),
		confMalformed("asterisk_path_not_options", reqFields("GET", "*")...),
		confMalformed("connect_with_path", ":method", "CONNECT", ":authority", "a:443", ":path", "/"),
		confMalformed("connect_with_scheme", ":method", "CONNECT", ":authority", "a:443", ":scheme", "https"),
		confMalformed("connect_without_authority", ":method", "CONNECT"),
	})
}

// h2spec http2/8.2.

func TestRFC9113_8_4_PushPromiseFromClientIsConnectionError(t *testing.T) {
	// h2spec http2/8.2/1: "A client cannot push."
	confConnErrors(t, []confConnCase{
		{"h2spec", func(tst *serverTester) {
			tst.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 3, BlockFragment: tst.encode(reqFields("GET", "/")...), EndHeaders: true})
		}, ErrCodeProtocol},
		{"on_open_stream", func(tst *serverTester) {
			tst.writeHeaders(1, false, reqFields("POST", "/")...)
			tst.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: tst.encode(reqFields("GET", "/")...), EndHeaders: true})
		}, ErrCodeProtocol},
	})
}
