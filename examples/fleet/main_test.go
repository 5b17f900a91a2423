package main

import (
	"flag"
	"io"
	"testing"
)

// TestProxyFlag checks -proxy-protocol's three forms: absent, alone
// (every connection), and a list of networks.
func TestProxyFlag(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    string // String() after parsing
		wantErr bool
	}{
		{nil, "false", false},
		{[]string{"-proxy-protocol"}, "true", false},
		{[]string{"-proxy-protocol=false"}, "false", false},
		{[]string{"-proxy-protocol=10.0.0.0/8, 127.0.0.2/32"}, "10.0.0.0/8,127.0.0.2/32", false},
		{[]string{"-proxy-protocol=10.0.0.1"}, "", true},
	} {
		fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var p proxyFlag
		fs.Var(&p, "proxy-protocol", "")
		err := fs.Parse(tc.args)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: error %v, want error %v", tc.args, err, tc.wantErr)
			continue
		}
		if err == nil && p.String() != tc.want {
			t.Errorf("%q: %q, want %q", tc.args, p.String(), tc.want)
		}
	}
}
