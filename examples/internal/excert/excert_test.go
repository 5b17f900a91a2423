package excert

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"net"
	"slices"
	"testing"
	"time"
)

func TestCertificateNames(t *testing.T) {
	cert, err := Certificate()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cert.PrivateKey.(*ecdsa.PrivateKey); !ok {
		t.Fatalf("private key is %T, want *ecdsa.PrivateKey", cert.PrivateKey)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cert.Leaf)
	for _, name := range []string{"127.0.0.1", "::1", "localhost"} {
		_, err := cert.Leaf.Verify(x509.VerifyOptions{
			DNSName:   name,
			Roots:     roots,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if err := cert.Leaf.VerifyHostname("example.com"); err == nil {
		t.Error("certificate is valid for example.com; want only loopback names")
	}
	if now := time.Now(); now.Before(cert.Leaf.NotBefore) || now.After(cert.Leaf.NotAfter) {
		t.Errorf("certificate not valid now: %v to %v", cert.Leaf.NotBefore, cert.Leaf.NotAfter)
	}
}

func TestCertificateIsFresh(t *testing.T) {
	a, err := Certificate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := Certificate()
	if err != nil {
		t.Fatal(err)
	}
	if a.Leaf.SerialNumber.Cmp(b.Leaf.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
}

// TestTLSConfigHandshake runs a real handshake against the config and
// checks that ALPN settles on h2.
func TestTLSConfigHandshake(t *testing.T) {
	cfg, err := TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.NextProtos, []string{"h2"}) {
		t.Fatalf("NextProtos = %q, want [h2]", cfg.NextProtos)
	}
	roots := x509.NewCertPool()
	roots.AddCert(cfg.Certificates[0].Leaf)

	cc, sc := net.Pipe()
	defer cc.Close()
	defer sc.Close()
	srv := tls.Server(sc, cfg)
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()

	cli := tls.Client(cc, &tls.Config{
		ServerName: "localhost",
		RootCAs:    roots,
		NextProtos: []string{"h2", "http/1.1"},
	})
	if err := cli.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if got := cli.ConnectionState().NegotiatedProtocol; got != "h2" {
		t.Errorf("negotiated %q, want h2", got)
	}
}
