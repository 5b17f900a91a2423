package h2server

// RFC 8441, Bootstrapping WebSockets with HTTP/2: the
// SETTINGS_ENABLE_CONNECT_PROTOCOL parameter (section 3) and the extended
// CONNECT method (section 4), which Server.EnableConnectProtocol turns on.
// Its stream is a tunnel like a CONNECT's (section 5); rfc9113_connect_test.go
// has those rules.

import (
	"io"
	"net/http"
	"slices"
	"testing"

	"golang.org/x/net/http2"
)

func withExtendedConnect(s *Server) { s.EnableConnectProtocol = true }

// extConnectReq returns the fields of an extended CONNECT (RFC 8441
// section 4) for protocol and path, followed by extra.
func extConnectReq(protocol, path string, extra ...string) []string {
	return append([]string{":method", "CONNECT", ":protocol", protocol, ":scheme", "https", ":path", path, ":authority", "example.com"}, extra...)
}

// serverSettings does the preface and returns the server's SETTINGS.
func serverSettings(tst *serverTester) map[http2.SettingID]uint32 {
	tst.t.Helper()
	tst.writePreface()
	tst.fr.WriteSettings()
	sf := wantFrame[*http2.SettingsFrame](tst)
	got := make(map[http2.SettingID]uint32)
	sf.ForeachSetting(func(s http2.Setting) error {
		got[s.ID] = s.Val
		return nil
	})
	return got
}

func TestRFC8441_3_SettingAdvertisedOnlyWhenEnabled(t *testing.T) {
	// Section 3: "Using a SETTINGS parameter to opt into an otherwise
	// incompatible protocol change is a use of 'Extending HTTP/2'". Off by
	// default, so browsers keep to HTTP/1.1 for WebSockets (golang/go#71128).
	for _, on := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "enabled"}[on], func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := newServerTester(t, nil, func(s *Server) { s.EnableConnectProtocol = on })
				v, ok := serverSettings(tst)[http2.SettingEnableConnectProtocol]
				if on && (!ok || v != 1) {
					t.Errorf("SETTINGS_ENABLE_CONNECT_PROTOCOL = %d (sent: %v), want 1", v, ok)
				}
				if !on && ok {
					t.Errorf("SETTINGS_ENABLE_CONNECT_PROTOCOL = %d sent, want it absent", v)
				}
			})
		})
	}
}

func TestRFC8441_3_InvalidSettingValueIsConnectionError(t *testing.T) {
	// Section 3: "The value of the parameter MUST be 0 or 1"; a client's
	// own 0 or 1 is accepted (it has no meaning for a server).
	run(t, func(t *testing.T) {
		tst := confStart(t, nil, withExtendedConnect)
		tst.fr.WriteSettings(http2.Setting{ID: http2.SettingEnableConnectProtocol, Val: 1})
		tst.wantSettingsAck()
		tst.fr.WriteRawFrame(http2.FrameSettings, 0, 0, []byte{0, 8, 0, 0, 0, 2})
		confWantConnError(tst, ErrCodeProtocol)
	})
}

func TestRFC8441_4_ExtendedConnectOpensTunnel(t *testing.T) {
	// Section 4: a CONNECT with :protocol, :scheme, :path and :authority;
	// section 5: once answered with 2xx, DATA frames carry the protocol's
	// bytes both ways and END_STREAM closes each side.
	run(t, func(t *testing.T) {
		tst := confStart(t, nil, withExtendedConnect)
		tst.writeHeaders(1, false, extConnectReq("websocket", "/chat?room=1", "sec-websocket-version", "13")...)
		c := tst.call(1)
		r := c.st.Request()
		if r.Method != "CONNECT" || r.Protocol != "websocket" || r.Scheme != "https" || r.Path != "/chat?room=1" || r.Authority != "example.com" {
			t.Fatalf("Request = %+v", r)
		}
		if v := r.Header().Get("Sec-Websocket-Version"); v != "13" {
			t.Errorf("Sec-WebSocket-Version %q", v)
		}
		// RFC 9110 section 9.3.6 holds for an extended CONNECT too: no
		// content-length on its 2xx.
		c.st.WriteHeaders(200, http.Header{"Content-Length": {"0"}})
		c.st.Flush()
		h := tst.wantHeaders(1, false)
		if s := h.PseudoValue("status"); s != "200" {
			t.Fatalf("status %q", s)
		}
		for _, f := range h.Fields {
			if f.Name == "content-length" {
				t.Errorf("2xx to an extended CONNECT carries content-length %q", f.Value)
			}
		}
		tst.fr.WriteData(1, false, []byte("frame one"))
		if got := readTunnel(t, c.st, 9); got != "frame one" {
			t.Fatalf("read %q", got)
		}
		io.WriteString(c.st, "frame two")
		c.st.Flush()
		tst.wantData(1, false, "frame two")
		tst.fr.WriteData(1, true, nil)
		if got := readAll(t, c.st); got != "" {
			t.Fatalf("read %q before EOF", got)
		}
		c.st.Close()
		tst.wantData(1, true, "")
		close(c.release)
		tst.wantIdle()
	})
}

func TestRFC8441_4_MalformedExtendedConnect(t *testing.T) {
	// Section 4: ":scheme and :path pseudo-header fields MUST be
	// included", and :protocol belongs to CONNECT; section 8.1.1 of RFC
	// 9113 makes each a stream error PROTOCOL_ERROR.
	confStreamErrors(t, []confStreamCase{
		confMalformed("no_scheme", ":method", "CONNECT", ":protocol", "websocket", ":path", "/", ":authority", "a"),
		confMalformed("no_path", ":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":authority", "a"),
		confMalformed("empty_path", extConnectReq("websocket", "")...),
		confMalformed("relative_path", extConnectReq("websocket", "chat")...),
		confMalformed("empty_protocol", extConnectReq("", "/")...),
		confMalformed("duplicate_protocol", extConnectReq("websocket", "/", ":protocol", "websocket")...),
		confMalformed("protocol_on_get", reqFields("GET", "/", ":protocol", "websocket")...),
		confMalformed("protocol_after_regular", append([]string{":method", "CONNECT", ":scheme", "https", ":path", "/", ":authority", "a", "x", "y"}, ":protocol", "websocket")...),
		confMalformed("userinfo", ":method", "CONNECT", ":protocol", "websocket", ":scheme", "https", ":path", "/", ":authority", "u@a"),
	}, withExtendedConnect)
}

func TestRFC8441_4_PlainConnectStillWorks(t *testing.T) {
	// With the setting on, a CONNECT without :protocol is still section
	// 8.5's: host and port, no :scheme or :path.
	run(t, func(t *testing.T) {
		tst := confStart(t, nil, withExtendedConnect)
		c := openTunnel(tst, 1, "example.com:443")
		if r := c.st.Request(); r.Protocol != "" || r.Path != "" {
			t.Errorf("Request = %+v, want a plain CONNECT", r)
		}
		close(c.release)
		tst.wantData(1, true, "")
	})
	confStreamErrors(t, []confStreamCase{
		confMalformed("connect_with_path", ":method", "CONNECT", ":authority", "a:443", ":path", "/"),
		confMalformed("connect_without_port", connectReq("a")...),
	}, withExtendedConnect)
}

func TestRFC8441_HTTPHandlerFollowsNetHTTP(t *testing.T) {
	// net/http's HTTP/2 server (Go 1.26, h2_bundle.go, with
	// GODEBUG=http2xconnect=1; and golang/go#53208's accepted
	// HTTP2Config.EnableConnectProtocol) hands an extended CONNECT to its
	// handler as Method CONNECT with URL and RequestURI from :path, Host
	// from :authority, and the protocol in r.Header[":protocol"]. The
	// adapter does the same, so a WebSocket handler written for net/http
	// finds what it looks for.
	run(t, func(t *testing.T) {
		type seen struct {
			method, host, path, rawQuery, requestURI, proto string
			protocol                                        []string
		}
		got := make(chan seen, 1)
		tst := confStart(t, HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got <- seen{r.Method, r.Host, r.URL.Path, r.URL.RawQuery, r.RequestURI, r.Proto, r.Header[":protocol"]}
			if r.Method != http.MethodConnect || r.Header.Get(":protocol") != "websocket" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			b, _ := io.ReadAll(r.Body)
			w.Write(b)
		})), withExtendedConnect)
		tst.writeHeaders(1, false, extConnectReq("websocket", "/chat?room=1")...)
		if s := tst.wantHeaders(1, false).PseudoValue("status"); s != "200" {
			t.Fatalf("status %q", s)
		}
		want := seen{"CONNECT", "example.com", "/chat", "room=1", "/chat?room=1", "HTTP/2.0", []string{"websocket"}}
		if s := <-got; s.method != want.method || s.host != want.host || s.path != want.path || s.rawQuery != want.rawQuery ||
			s.requestURI != want.requestURI || s.proto != want.proto || !slices.Equal(s.protocol, want.protocol) {
			t.Errorf("handler saw %+v, want %+v", s, want)
		}
		tst.fr.WriteData(1, true, []byte("bytes"))
		tst.wantData(1, true, "bytes")
	})
}
