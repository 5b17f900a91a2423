//go:build tools

// Package tools pins the h2spec HTTP/2 conformance tool (and, through this
// module's go.mod and go.sum, every dependency it builds with) so that CI
// runs the same h2spec every time. Nothing imports this package; the build
// tag keeps it out of every build.
//
// Build it from this directory with
//
//	go build -trimpath -o ../../bin/h2spec github.com/summerwind/h2spec/cmd/h2spec
//
// or let .ci/h2spec.sh do it.
package tools

import _ "github.com/summerwind/h2spec/cmd/h2spec"
