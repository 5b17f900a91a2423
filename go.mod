module github.com/h2server/h2server

go 1.26.0

require (
	github.com/gobwas/ws v1.5.0
	github.com/pires/go-proxyproto v0.15.0
	golang.org/x/net v0.62.0
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)
