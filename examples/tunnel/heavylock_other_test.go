//go:build !unix

package main

import "testing"

// heavyTestLock: see heavylock_unix_test.go; elsewhere the heavy tests
// simply run.
func heavyTestLock(testing.TB) {}
