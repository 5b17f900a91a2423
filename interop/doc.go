// Package interop holds interoperability tests that need dependencies the
// h2server module itself must not pull in: grpc-go's server hosted through
// h2server.HTTPHandler, driven by grpc-go's client. It has no API; run its
// tests with
//
//	cd interop && go test -race ./...
//
// The keepalive tests wait for real keepalive time, about 40 s; -short
// skips them.
package interop
