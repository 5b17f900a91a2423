package h2server

import "crypto/tls"

// tlsInadequate applies RFC 9113 section 9.2 to a finished handshake and
// returns "" when HTTP/2 may run over it, or the reason token of the
// connection error INADEQUATE_SECURITY it calls for. A nil state (a
// cleartext connection) passes.
//
// A Server's own TLS configuration (ListenAndServeTLS) never negotiates
// what this refuses; a user's tls.Listener or ServeConn of a *tls.Conn
// may.
func tlsInadequate(cs *tls.ConnectionState) string {
	if cs == nil {
		return ""
	}
	// Section 9.2: "Implementations of HTTP/2 MUST use TLS version 1.2
	// [TLS12] or higher for HTTP/2 over TLS."
	if cs.Version < tls.VersionTLS12 {
		return "tls_version_too_low"
	}
	// Section 9.2.2: "A deployment of HTTP/2 over TLS 1.2 MUST NOT use
	// any of the prohibited cipher suites listed in Appendix A"; an
	// endpoint MAY treat one as INADEQUATE_SECURITY, and we do, as
	// net/http does. Section 9.2.3 puts no such limit on TLS 1.3.
	if cs.Version == tls.VersionTLS12 && tls12SuiteProhibited(cs.CipherSuite) {
		return "tls_cipher_blocked"
	}
	return ""
}

// tls12SuiteProhibited reports whether RFC 9113 Appendix A lists suite.
// The appendix lists every suite registered when RFC 7540 was written
// that lacks an ephemeral key exchange (ECDHE, DHE) or an AEAD cipher
// (GCM, CCM, ChaCha20-Poly1305). Of the suites crypto/tls can negotiate
// in TLS 1.2, only those below have both; every other one is on the
// list. (TestRFC9113_9_2_2_EveryGoCipherSuite checks this against each
// suite crypto/tls knows, so that one a new Go release adds is seen.)
func tls12SuiteProhibited(suite uint16) bool {
	switch suite {
	case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return false
	}
	return true
}
