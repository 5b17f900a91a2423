package h2server

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/net/http2/hpack"
)

// Request is the head of a request as the client sent it (RFC 9113
// section 8.3.1). It is read-only for handlers.
type Request struct {
	Method    string // :method
	Scheme    string // :scheme; empty for CONNECT
	Authority string // :authority, or the Host field when :authority is absent
	Path      string // :path; empty for CONNECT
	// Protocol is the :protocol of an extended CONNECT (RFC 8441), such
	// as "websocket"; empty for every other request. Only a Server with
	// EnableConnectProtocol accepts one.
	Protocol string

	// Fields holds the regular header fields in the order they arrived,
	// with the lowercase names of the wire.
	Fields []hpack.HeaderField

	// ContentLength is the value of the content-length field, or -1 when
	// the request did not send one.
	ContentLength int64

	RemoteAddr net.Addr
	// TLS is the connection's TLS state, nil on cleartext (h2c) connections.
	TLS *tls.ConnectionState

	// header is the http.Header the first Header call built: the map's
	// one pointer word, loaded and stored atomically. Not a sync.Once or
	// an atomic.Pointer, which must not be copied (Requests are, before a
	// handler sees them); not an atomic.Value, whose second word would
	// push Stream into the next size class.
	header unsafe.Pointer
}

// A map value is one pointer word, which Header stores in an
// unsafe.Pointer (so the collector still sees it).
var _ [unsafe.Sizeof(http.Header(nil)) - unsafe.Sizeof(unsafe.Pointer(nil))]struct{}
var _ [unsafe.Sizeof(unsafe.Pointer(nil)) - unsafe.Sizeof(http.Header(nil))]struct{}

// Header returns the regular fields as an http.Header, with canonical keys.
// Cookie fields are joined with "; " as RFC 9113 section 8.2.3 asks. The
// map is built on first use and shared by later calls; calls from several
// goroutines at once are safe, and return the same map.
func (r *Request) Header() http.Header {
	if p := atomic.LoadPointer(&r.header); p != nil {
		return *(*http.Header)(unsafe.Pointer(&p))
	}
	// Built lazily because most handlers never ask: it costs two
	// allocations. Two first calls at once may both build one; the
	// first to store it wins, and the other call returns the winner's.
	h := r.buildHeader()
	if !atomic.CompareAndSwapPointer(&r.header, nil, *(*unsafe.Pointer)(unsafe.Pointer(&h))) {
		p := atomic.LoadPointer(&r.header)
		h = *(*http.Header)(unsafe.Pointer(&p))
	}
	return h
}

func (r *Request) buildHeader() http.Header {
	h := make(http.Header, len(r.Fields))
	// One backing array for all values, as textproto does: a field's
	// first value takes a one-element slice of it, so the map costs two
	// allocations, not one per field.
	vals := make([]string, len(r.Fields))
	var cookies []string
	for i, f := range r.Fields {
		if f.Name == "cookie" {
			cookies = append(cookies, f.Value)
			continue
		}
		k := canonicalKey(f.Name)
		if vv, ok := h[k]; ok {
			h[k] = append(vv, f.Value)
			continue
		}
		vals[i] = f.Value
		h[k] = vals[i : i+1 : i+1]
	}
	if len(cookies) > 0 {
		h["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	return h
}

// canonicalKey turns a lowercase wire name into http.Header's key form
// without allocating for the names most requests carry.
func canonicalKey(name string) string {
	if k, ok := commonCanonical[name]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

var commonCanonical = func() map[string]string {
	m := make(map[string]string)
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges",
		"Authorization", "Cache-Control", "Content-Encoding", "Content-Language",
		"Content-Length", "Content-Type", "Cookie", "Date", "Etag", "Expect", "Forwarded",
		"From", "Grpc-Accept-Encoding", "Grpc-Encoding", "Grpc-Message", "Grpc-Status",
		"Grpc-Timeout", "Host", "If-Match", "If-Modified-Since", "If-None-Match",
		"If-Range", "If-Unmodified-Since", "Last-Modified", "Link", "Location",
		"Origin", "Priority", "Range", "Referer", "Server", "Set-Cookie", "Te",
		"Trailer", "User-Agent", "Vary", "Via", "X-Forwarded-For", "X-Forwarded-Proto",
		"X-Request-Id",
	} {
		m[strings.ToLower(k)] = k
	}
	return m
}()

// validFieldName reports whether name is a lowercase token (RFC 9110
// section 5.1 with RFC 9113 section 8.2.1's ban on uppercase).
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isLowerTchar[name[i]] {
			return false
		}
	}
	return true
}

var isLowerTchar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validFieldValue applies RFC 9113 section 8.2.1: no NUL, CR or LF, and
// no whitespace at either end.
func validFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case 0, '\r', '\n':
			return false
		}
	}
	if n := len(v); n > 0 && (isSpace(v[0]) || isSpace(v[n-1])) {
		return false
	}
	return true
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// connectionSpecific lists the fields RFC 9113 section 8.2.2 forbids: an
// intermediary must strip them, and a request carrying one is malformed.
func connectionSpecific(name string) bool {
	switch name {
	case "connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

// checkRegularField validates one non-pseudo field of a request or its
// trailers, returning a reason token or "".
func checkRegularField(f hpack.HeaderField) string {
	if !validFieldName(f.Name) {
		return "invalid_field_name"
	}
	if !validFieldValue(f.Value) {
		return "invalid_field_value"
	}
	if connectionSpecific(f.Name) {
		return "connection_specific_field"
	}
	if f.Name == "te" && f.Value != "trailers" {
		return "te_not_trailers"
	}
	return ""
}

// parseRequest builds a Request from a decoded header block, applying
// RFC 9113 sections 8.2, 8.3 and 8.5, and with extendedConnect (we sent
// SETTINGS_ENABLE_CONNECT_PROTOCOL) RFC 8441 section 4. A non-empty
// reason means the request is malformed: a stream error of type
// PROTOCOL_ERROR (section 8.1.1).
func parseRequest(fields []hpack.HeaderField, extendedConnect bool) (req Request, reason string) {
	req.ContentLength = -1
	var sawRegular, sawMethod, sawScheme, sawAuthority, sawPath, sawProtocol, sawHost bool
	var host string
	regular := 0
	for _, f := range fields {
		if f.IsPseudo() {
			// Section 8.3: pseudo-header fields come first, each once,
			// and only the ones defined for requests.
			if sawRegular {
				return req, "pseudo_after_regular"
			}
			var seen *bool
			var dst *string
			switch f.Name {
			case ":method":
				seen, dst = &sawMethod, &req.Method
			case ":scheme":
				seen, dst = &sawScheme, &req.Scheme
			case ":authority":
				seen, dst = &sawAuthority, &req.Authority
			case ":path":
				seen, dst = &sawPath, &req.Path
			case ":protocol":
				// RFC 8441 section 3: a peer that did not receive
				// SETTINGS_ENABLE_CONNECT_PROTOCOL=1 must not send it,
				// and to us it is then an unknown pseudo-header.
				if !extendedConnect {
					return req, "protocol_without_extended_connect"
				}
				seen, dst = &sawProtocol, &req.Protocol
			default:
				return req, "unknown_pseudo_header"
			}
			if *seen {
				return req, "duplicate_pseudo_header"
			}
			if !validFieldValue(f.Value) {
				return req, "invalid_pseudo_value"
			}
			*seen, *dst = true, f.Value
			continue
		}
		sawRegular = true
		if r := checkRegularField(f); r != "" {
			return req, r
		}
		switch f.Name {
		case "content-length":
			n, ok := parseContentLength(f.Value)
			if !ok || (req.ContentLength >= 0 && req.ContentLength != n) {
				return req, "invalid_content_length"
			}
			req.ContentLength = n
		case "host":
			if sawHost {
				// As HTTP/1.1 (RFC 9112 section 3.2) and net/http's
				// HTTP/2 server: one Host, or the request is refused.
				return req, "multiple_host_fields"
			}
			sawHost, host = true, f.Value
		}
		regular++
	}
	if !sawMethod || req.Method == "" {
		return req, "missing_method"
	}
	if sawProtocol && (req.Method != "CONNECT" || req.Protocol == "") {
		// RFC 8441 section 4: :protocol belongs to a CONNECT request.
		return req, "protocol_without_connect"
	}
	if req.Method == "CONNECT" && !sawProtocol {
		// Section 8.5: CONNECT carries only :method and :authority.
		if sawScheme || sawPath || req.Authority == "" {
			return req, "malformed_connect"
		}
	} else {
		// RFC 8441 section 4: an extended CONNECT carries :scheme and
		// :path like any other request, and its :authority is read as
		// theirs is, not as CONNECT's host and port.
		if !sawScheme || req.Scheme == "" {
			return req, "missing_scheme"
		}
		if !sawPath || req.Path == "" {
			return req, "missing_path"
		}
		if (req.Scheme == "http" || req.Scheme == "https") &&
			req.Path[0] != '/' && !(req.Path == "*" && req.Method == "OPTIONS") {
			return req, "invalid_path"
		}
	}
	if req.Authority == "" {
		// Section 8.3.1: a request may carry Host instead of :authority.
		req.Authority = host
	} else if sawHost && host != req.Authority {
		// Section 8.3.1: "Clients MUST NOT generate a request with a
		// Host header field that differs from the :authority
		// pseudo-header field." Compared exactly, as net/http's HTTP/2
		// server does: an honest client sends the same bytes.
		return req, "authority_host_mismatch"
	}
	if r := checkAuthority(req.Authority, req.Scheme, req.isTunnel()); r != "" {
		return req, r
	}
	req.Fields = fields[len(fields)-regular:]
	return req, ""
}

// isTunnel reports whether r is a CONNECT of RFC 9113 section 8.5 (not an
// extended CONNECT): its :authority is the host and port to connect to.
func (r *Request) isTunnel() bool { return r.Method == "CONNECT" && r.Protocol == "" }

// checkAuthority validates a request's authority (its :authority, or
// its Host field) as RFC 3986 section 3.2 and RFC 9113 sections 8.3.1 and
// 8.5 have it, returning a reason token or "". An empty authority passes:
// a request need not name one.
func checkAuthority(a, scheme string, connect bool) string {
	if a == "" {
		return ""
	}
	hostport := a
	if userinfo, rest, ok := strings.Cut(a, "@"); ok {
		// Section 8.3.1: ":authority MUST NOT include the deprecated
		// userinfo subcomponent for "http" or "https" schemed URIs";
		// nor has CONNECT's authority-form one (RFC 9110 section 9.3.6).
		if connect || scheme == "http" || scheme == "https" {
			return "userinfo_in_authority"
		}
		// RFC 3986 section 3.2.1.
		if !validURIChars(userinfo, ':') {
			return "invalid_authority"
		}
		hostport = rest
	}
	host, port := hostport, ""
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 || !validIPLiteral(hostport[1:end]) {
			return "invalid_authority"
		}
		host = hostport[:end+1]
		if rest := hostport[end+1:]; rest != "" {
			if rest[0] != ':' {
				return "invalid_authority"
			}
			port = rest[1:]
		}
	} else {
		if i := strings.LastIndexByte(hostport, ':'); i >= 0 {
			host, port = hostport[:i], hostport[i+1:]
		}
		// RFC 3986 section 3.2.2: an IPv4 address is a reg-name too.
		if !validURIChars(host, 0) {
			return "invalid_authority"
		}
	}
	for i := 0; i < len(port); i++ {
		if c := port[i]; c < '0' || c > '9' {
			return "invalid_authority"
		}
	}
	if connect {
		// Section 8.5: ":authority ... contains the host and port to
		// connect to".
		if host == "" || port == "" {
			return "invalid_connect_authority"
		}
	} else if host == "" && (scheme == "http" || scheme == "https") {
		// RFC 9110 section 4.2.1: an http URI with an empty host is
		// invalid, and "A recipient that processes such a URI reference
		// MUST reject it"; section 4.2.2 says the same of https.
		return "invalid_authority"
	}
	return ""
}

// validURIChars reports whether s is made of RFC 3986's unreserved,
// pct-encoded and sub-delims characters, and extra when it is not 0: a
// reg-name (section 3.2.2), or with ':' a userinfo (section 3.2.1).
func validURIChars(s string, extra byte) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case uriRegNameByte[c], c == extra && extra != 0:
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		default:
			return false
		}
	}
	return true
}

// uriRegNameByte holds RFC 3986's unreserved and sub-delims characters.
var uriRegNameByte = byteSet("-._~!$&'()*+,;=")

// byteSet is a table of the ASCII letters and digits and the bytes of extra.
func byteSet(extra string) (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range extra {
		t[c] = true
	}
	return t
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// validIPLiteral checks what RFC 3986 section 3.2.2 allows between the
// brackets of an IP-literal: an IPv6 address, without a zone (RFC 3986
// has none), or an IPvFuture.
func validIPLiteral(s string) bool {
	if len(s) > 0 && (s[0] == 'v' || s[0] == 'V') {
		// IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
		ver, rest, ok := strings.Cut(s[1:], ".")
		if !ok || ver == "" || rest == "" {
			return false
		}
		for i := 0; i < len(ver); i++ {
			if !isHex(ver[i]) {
				return false
			}
		}
		for i := 0; i < len(rest); i++ {
			if c := rest[i]; !uriRegNameByte[c] && c != ':' {
				return false
			}
		}
		return true
	}
	if strings.IndexByte(s, '%') >= 0 {
		return false
	}
	ip, err := netip.ParseAddr(s)
	return err == nil && ip.Is6()
}

// parseTrailers validates a trailer block: regular fields only
// (RFC 9113 section 8.1).
func parseTrailers(fields []hpack.HeaderField) (http.Header, string) {
	h := make(http.Header, len(fields))
	for _, f := range fields {
		if f.IsPseudo() {
			return nil, "pseudo_header_in_trailers"
		}
		if r := checkRegularField(f); r != "" {
			return nil, r
		}
		k := canonicalKey(f.Name)
		h[k] = append(h[k], f.Value)
	}
	return h, ""
}

func parseContentLength(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// appendResponseFields turns a status and header into the field list of
// a response HEADERS frame: :status first, names lowercased, and the
// connection-specific fields HTTP/2 forbids left out (RFC 9113 section
// 8.2.2). It fails on a field that cannot be sent.
func appendResponseFields(dst []hpack.HeaderField, status int, h http.Header) ([]hpack.HeaderField, error) {
	dst, _, err := appendResponseHead(dst, status, h)
	return dst, err
}

// appendResponseHead is appendResponseFields that also returns the
// content length the head declares, or -1 when it declares none. Every
// key that is content-length in any case counts, not just the canonical
// one that http.Header.Get reads: the peer sees them all. Values that do
// not parse, or that disagree, fail as a field that cannot be sent,
// since no body could match them (RFC 9110 section 8.6, RFC 9113
// section 8.1.1).
func appendResponseHead(dst []hpack.HeaderField, status int, h http.Header) ([]hpack.HeaderField, int64, error) {
	if dst == nil {
		dst = make([]hpack.HeaderField, 0, 1+len(h))
	}
	dst = append(dst, hpack.HeaderField{Name: ":status", Value: statusText(status)})
	return appendSortedFields(dst, h, true)
}

// appendFields appends the regular fields of h (response headers or
// trailers) in wire form.
func appendFields(dst []hpack.HeaderField, h http.Header) ([]hpack.HeaderField, error) {
	dst, _, err := appendSortedFields(dst, h, false)
	return dst, err
}

// appendSortedFields appends h's fields ordered by wire name, each
// key's values in their order: the same header always gives the same
// fields, as net/http's HTTP/2 server sorts its keys, so that HPACK
// indexes them alike from one response to the next. With head,
// content-length values are checked and the declared length returned
// (see appendResponseHead).
//
// The fields are sorted where they land, in dst, by an insertion sort:
// no array of keys and no generic sort's frames on the handler's stack,
// which must stay within its first 2 KiB (a stack that grows is copied:
// sorting 16 keys with their values in an array on the stack cost small
// requests a third of their CPU in copystack).
func appendSortedFields(dst []hpack.HeaderField, h http.Header, head bool) ([]hpack.HeaderField, int64, error) {
	start := len(dst)
	declared := int64(-1)
	for k, vv := range h {
		name := lowerName(k)
		if connectionSpecific(name) || (name == "te" && !onlyTrailers(vv)) {
			continue
		}
		if !validFieldName(name) {
			return dst, -1, &fieldError{k}
		}
		if head && name == "content-length" {
			for _, v := range vv {
				n, ok := parseContentLength(v)
				if !ok || (declared >= 0 && n != declared) {
					return dst, -1, &fieldError{k}
				}
				declared = n
			}
		}
		for _, v := range vv {
			if !validResponseValue(v) {
				return dst, -1, &fieldError{k}
			}
			dst = append(dst, hpack.HeaderField{Name: name, Value: v})
		}
	}
	// Stable: a key's values keep their order.
	fs := dst[start:]
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j-1].Name > fs[j].Name; j-- {
			fs[j-1], fs[j] = fs[j], fs[j-1]
		}
	}
	return dst, declared, nil
}

// declaredContentLength returns the content length a response header
// declares, looking at every key that is content-length in any case, as
// the peer will: -1 when there is none, or when the values do not parse
// or disagree (appendResponseHead refuses such a header).
func declaredContentLength(h http.Header) int64 {
	n := int64(-1)
	for k, vv := range h {
		if !isContentLengthKey(k) {
			continue
		}
		for _, v := range vv {
			m, ok := parseContentLength(v)
			if !ok || (n >= 0 && m != n) {
				return -1
			}
			n = m
		}
	}
	return n
}

// isContentLengthKey reports whether k names content-length, in any case.
func isContentLengthKey(k string) bool {
	return len(k) == len("content-length") && strings.EqualFold(k, "content-length")
}

func onlyTrailers(vv []string) bool { return len(vv) == 1 && vv[0] == "trailers" }

// validResponseValue is looser than validFieldValue: outbound values may
// carry surrounding whitespace, as HTTP/1 handlers often do; only the
// bytes that would corrupt the field are refused.
func validResponseValue(v string) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case 0, '\r', '\n':
			return false
		}
	}
	return true
}

type fieldError struct{ name string }

func (e *fieldError) Error() string {
	return "h2server: header field " + strconv.Quote(e.name) + " has an invalid name or value"
}

// lowerName lowercases a header key, without allocating for the usual
// canonical keys.
func lowerName(k string) string {
	if l, ok := commonLower[k]; ok {
		return l
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(k)
		}
	}
	return k
}

var commonLower = func() map[string]string {
	m := make(map[string]string, len(commonCanonical))
	for l, k := range commonCanonical {
		m[k] = l
	}
	return m
}()

func statusText(code int) string {
	switch code {
	case 200:
		return "200"
	case 204:
		return "204"
	case 404:
		return "404"
	}
	return strconv.Itoa(code)
}
