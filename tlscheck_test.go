package h2server

import (
	"crypto/tls"
	"strings"
	"testing"
)

func TestRFC9113_9_2_TLSInadequate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version uint16
		suite   uint16
		want    string
	}{
		{"cleartext", 0, 0, ""}, // nil state: see below
		{"tls13_aes128", tls.VersionTLS13, tls.TLS_AES_128_GCM_SHA256, ""},
		{"tls13_chacha", tls.VersionTLS13, tls.TLS_CHACHA20_POLY1305_SHA256, ""},
		// TLS 1.3 suites are all AEAD with ephemeral keys; section 9.2.3
		// puts no restriction on them, whatever the number says.
		{"tls13_any_suite", tls.VersionTLS13, tls.TLS_RSA_WITH_AES_128_CBC_SHA, ""},
		{"tls12_ecdhe_rsa_aes128_gcm", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ""},
		{"tls12_ecdhe_ecdsa_aes256_gcm", tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, ""},
		{"tls12_ecdhe_rsa_chacha", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, ""},
		// Appendix A: no ephemeral key exchange, or not an AEAD cipher.
		{"tls12_rsa_aes128_cbc", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_CBC_SHA, "tls_cipher_blocked"},
		{"tls12_rsa_aes128_gcm", tls.VersionTLS12, tls.TLS_RSA_WITH_AES_128_GCM_SHA256, "tls_cipher_blocked"},
		{"tls12_ecdhe_rsa_aes128_cbc", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "tls_cipher_blocked"},
		{"tls12_ecdhe_rsa_3des", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA, "tls_cipher_blocked"},
		{"tls12_rc4", tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA, "tls_cipher_blocked"},
		// Section 9.2: "MUST use TLS version 1.2 or higher".
		{"tls11", tls.VersionTLS11, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "tls_version_too_low"},
		{"tls10", tls.VersionTLS10, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, "tls_version_too_low"},
		{"ssl30", 0x0300, tls.TLS_RSA_WITH_RC4_128_SHA, "tls_version_too_low"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cs *tls.ConnectionState
			if tc.version != 0 {
				cs = &tls.ConnectionState{Version: tc.version, CipherSuite: tc.suite}
			}
			if got := tlsInadequate(cs); got != tc.want {
				t.Errorf("tlsInadequate(%x, %s) = %q, want %q", tc.version, tls.CipherSuiteName(tc.suite), got, tc.want)
			}
		})
	}
}

func TestRFC9113_9_2_2_EveryGoCipherSuite(t *testing.T) {
	// Appendix A lists the suites registered when RFC 7540 was written
	// that lack an ephemeral key exchange or an AEAD cipher. Check our
	// list against that rule for every suite crypto/tls can negotiate in
	// TLS 1.2, so that a suite a new Go release adds is not judged by
	// accident.
	var suites []*tls.CipherSuite
	suites = append(suites, tls.CipherSuites()...)
	suites = append(suites, tls.InsecureCipherSuites()...)
	for _, s := range suites {
		if !supportsTLS12(s) {
			continue
		}
		ephemeral := strings.Contains(s.Name, "_ECDHE_") || strings.Contains(s.Name, "_DHE_")
		aead := strings.Contains(s.Name, "_GCM_") || strings.Contains(s.Name, "_CCM") || strings.Contains(s.Name, "_CHACHA20_POLY1305")
		want := ""
		if !ephemeral || !aead {
			want = "tls_cipher_blocked"
		}
		cs := &tls.ConnectionState{Version: tls.VersionTLS12, CipherSuite: s.ID}
		if got := tlsInadequate(cs); got != want {
			t.Errorf("%s (%#04x) in TLS 1.2: %q, want %q", s.Name, s.ID, got, want)
		}
	}
}

func supportsTLS12(s *tls.CipherSuite) bool {
	for _, v := range s.SupportedVersions {
		if v == tls.VersionTLS12 {
			return true
		}
	}
	return false
}
