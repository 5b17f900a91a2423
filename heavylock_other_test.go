//go:build !unix

package h2server

import "testing"

// heavyTestLock: see heavylock_unix_test.go; elsewhere the heavy tests
// simply run.
func heavyTestLock(testing.TB) {}
