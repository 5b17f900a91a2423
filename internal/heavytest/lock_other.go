//go:build !unix

package heavytest

import "testing"

// Lock: see lock_unix.go; elsewhere the heavy tests simply run.
func Lock(testing.TB) {}
