package h2server

// RFC 9113 section 8.3.1 on :authority and Host, with the authority
// syntax of RFC 3986 section 3.2: a malformed request is a stream error
// of type PROTOCOL_ERROR (section 8.1.1) that costs nothing else.

import "testing"

// authReq is a GET / with the given :scheme and :authority (none when
// authority is nil) followed by extra fields.
func authReq(scheme string, authority *string, extra ...string) []string {
	kv := []string{":method", "GET", ":scheme", scheme}
	if authority != nil {
		kv = append(kv, ":authority", *authority)
	}
	return append(append(kv, ":path", "/"), extra...)
}

func ptr(s string) *string { return &s }

func connectReq(authority string) []string {
	return []string{":method", "CONNECT", ":authority", authority}
}

func TestRFC9113_8_3_1_AuthorityMalformed(t *testing.T) {
	var cases []confStreamCase
	for _, tc := range []struct {
		name   string
		fields []string
	}{
		// Section 8.3.1: ":authority MUST NOT include the deprecated
		// userinfo subcomponent for "http" or "https" schemed URIs."
		{"userinfo_https", authReq("https", ptr("user@example.com"))},
		{"userinfo_http", authReq("http", ptr("user:secret@example.com"))},
		{"userinfo_empty", authReq("https", ptr("@example.com"))},
		{"userinfo_in_host_field", authReq("https", nil, "host", "user@example.com")},
		{"userinfo_connect", connectReq("user@example.com:443")},

		// RFC 3986 section 3.2: host [ ":" port ], where host is an
		// IP-literal in brackets, an IPv4 address or a reg-name of
		// unreserved, pct-encoded and sub-delims characters.
		{"space", authReq("https", ptr("exa mple.com"))},
		{"slash", authReq("https", ptr("example.com/x"))},
		{"query", authReq("https", ptr("example.com?x"))},
		{"fragment", authReq("https", ptr("example.com#x"))},
		{"non_ascii", authReq("https", ptr("exämple.com"))},
		{"bad_pct_encoding", authReq("https", ptr("ex%zzample.com"))},
		{"truncated_pct_encoding", authReq("https", ptr("example.com%4"))},
		{"port_not_digits", authReq("https", ptr("example.com:8o"))},
		{"two_ports", authReq("https", ptr("example.com:80:80"))},
		{"ipv6_without_brackets", authReq("https", ptr("::1"))},
		{"ipv6_unclosed_bracket", authReq("https", ptr("[::1"))},
		{"ipv6_junk_after_bracket", authReq("https", ptr("[::1]x"))},
		{"ipv6_bad_literal", authReq("https", ptr("[::g]"))},
		{"ipv6_zone", authReq("https", ptr("[fe80::1%25eth0]"))},
		{"reg_name_in_brackets", authReq("https", ptr("[example.com]"))},
		{"ipv4_in_brackets", authReq("https", ptr("[192.0.2.1]"))},
		{"invalid_host_field", authReq("https", nil, "host", "bad host")},
		// RFC 9110 section 4.2.1: an http URI with an empty host is
		// invalid, and its recipient MUST reject it.
		{"empty_host_with_port", authReq("https", ptr(":443"))},

		// Section 8.3.1: a Host field that differs from :authority.
		// Clients "MUST NOT generate" one, so the values are compared
		// exactly, as net/http's HTTP/2 server does.
		{"host_differs", authReq("https", ptr("example.com"), "host", "other.example")},
		{"host_differs_by_port", authReq("https", ptr("example.com"), "host", "example.com:443")},
		{"host_differs_by_case", authReq("https", ptr("example.com"), "host", "EXAMPLE.com")},
		{"two_host_fields", authReq("https", ptr("example.com"), "host", "example.com", "host", "example.com")},

		// Section 8.5: the :authority of CONNECT is the host and port
		// to connect to.
		{"connect_without_port", connectReq("example.com")},
		{"connect_empty_port", connectReq("example.com:")},
		{"connect_empty_host", connectReq(":443")},
	} {
		cases = append(cases, confMalformed(tc.name, tc.fields...))
	}
	confStreamErrors(t, cases)
}

func TestRFC9113_8_3_1_AuthorityWellFormed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields []string
		want   string // Request.Authority
	}{
		{"reg_name", authReq("https", ptr("example.com")), "example.com"},
		{"reg_name_with_port", authReq("https", ptr("example.com:8443")), "example.com:8443"},
		{"reg_name_empty_port", authReq("https", ptr("example.com:")), "example.com:"},
		{"ipv4", authReq("https", ptr("192.0.2.1")), "192.0.2.1"},
		{"ipv4_with_port", authReq("http", ptr("192.0.2.1:80")), "192.0.2.1:80"},
		{"ipv6", authReq("https", ptr("[::1]")), "[::1]"},
		{"ipv6_with_port", authReq("https", ptr("[2001:db8::1]:8443")), "[2001:db8::1]:8443"},
		{"ipv6_with_ipv4_tail", authReq("https", ptr("[::ffff:192.0.2.1]:443")), "[::ffff:192.0.2.1]:443"},
		{"ipv_future", authReq("https", ptr("[v1.fe80::a+en1]")), "[v1.fe80::a+en1]"},
		{"pct_encoded", authReq("https", ptr("ex%41mple.com")), "ex%41mple.com"},
		{"sub_delims_and_unreserved", authReq("https", ptr("a-b_c~d!$&'()*+,;=e.example")), "a-b_c~d!$&'()*+,;=e.example"},
		{"host_same_as_authority", authReq("https", ptr("example.com:8443"), "host", "example.com:8443"), "example.com:8443"},
		// A request may carry Host instead of :authority (section
		// 8.3.1): Host is then the authority.
		{"host_only", authReq("https", nil, "host", "example.com:8443"), "example.com:8443"},
		{"empty_authority_then_host", authReq("https", ptr(""), "host", "example.com"), "example.com"},
		// Userinfo is banned only for http and https.
		{"userinfo_other_scheme", authReq("foo", ptr("user:pw@example.com")), "user:pw@example.com"},
		{"connect", connectReq("example.com:443"), "example.com:443"},
		{"connect_ipv6", connectReq("[2001:db8::1]:443"), "[2001:db8::1]:443"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := confStart(t, nil)
				tst.writeHeaders(1, true, tc.fields...)
				c := tst.call(1)
				if got := c.st.Request().Authority; got != tc.want {
					t.Errorf("Authority %q, want %q", got, tc.want)
				}
				c.st.WriteHeaders(200, nil)
				close(c.release)
				if r := tst.wantResponse(1); r.status != "200" {
					t.Fatalf("got %+v, want 200", r)
				}
			})
		})
	}
}
