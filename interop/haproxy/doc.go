// Package haproxy tests h2server behind HAProxy (Debian's haproxy package).
// As an HTTP/2 backend (haproxy_test.go): clients speak HTTP/1.1, h2c or
// TLS (h2 and http/1.1) to HAProxy, which speaks h2c to h2server. As a
// fleet (fleet_test.go): three examples/fleet processes behind HAProxy,
// restarted one by one under load without a failed request, spread by
// MaxConnectionAge through an L4 balancer with the PROXY protocol, and a
// vanished client found by keepalive. It has no API; run its tests with
//
//	cd interop && go test -race ./haproxy
//
// Without haproxy on PATH the tests that need it skip, or fail when
// CI=true.
package haproxy
