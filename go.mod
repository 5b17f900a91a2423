module github.com/h2server/h2server

go 1.26.0

require (
	github.com/pires/go-proxyproto v0.15.0
	golang.org/x/net v0.62.0
)

require golang.org/x/text v0.43.0 // indirect
