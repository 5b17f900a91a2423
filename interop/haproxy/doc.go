// Package haproxy tests h2server behind HAProxy (Debian's haproxy package)
// as an HTTP/2 backend: clients speak HTTP/1.1, h2c or TLS (h2 and
// http/1.1) to HAProxy, which speaks h2c to h2server. It has no API; run
// its tests with
//
//	cd interop && go test -race ./haproxy
//
// Without haproxy on PATH the tests skip, or fail when CI=true.
package haproxy
