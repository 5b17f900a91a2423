// Builds the h2spec HTTP/2 conformance tool for h2server's CI, reproducibly:
// h2spec v2.2.1 has no go.mod, so this module pins its dependencies.
//
// The versions are the ones h2spec v2.2.1 was released with (its Gopkg.lock;
// upstream's later go.mod pins the same set). They build with Go 1.26, and an
// h2spec built against current releases (x/net v0.62.0, cobra v1.10.2,
// color v1.19.0) gave the same result for every case against net/http, so
// there is no reason to move off the tested set.
//
// Build: cd tools/h2spec && go build -o ../../bin/h2spec github.com/summerwind/h2spec/cmd/h2spec
// (.ci/h2spec.sh does this, with -trimpath).
module github.com/h2server/h2server/tools/h2spec

go 1.26

require github.com/summerwind/h2spec v2.2.1+incompatible

require (
	github.com/fatih/color v0.0.0-20161025120501-bf82308e8c85 // indirect
	github.com/inconshreveable/mousetrap v1.0.0 // indirect
	github.com/mattn/go-colorable v0.1.0 // indirect
	github.com/mattn/go-isatty v0.0.4 // indirect
	github.com/spf13/cobra v0.0.0-20170118185516-dc208f4211e7 // indirect
	github.com/spf13/pflag v1.0.3 // indirect
	golang.org/x/net v0.0.0-20161104230106-55a3084c9119 // indirect
	golang.org/x/sys v0.1.0 // indirect
)
