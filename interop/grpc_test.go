package interop

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/h2server/h2server"
)

// waitLimit bounds every wait: a guard against a hang.
const waitLimit = 20 * time.Second

// The Echo service is written by hand, without protoc: a grpc.ServiceDesc
// whose messages are wrapperspb.BytesValue, a generated type that ships
// with google.golang.org/protobuf.
const echoService = "h2server.interop.Echo"

type echoServer interface{}

// echo is the service's state: what the tests observe from the server side.
type echo struct {
	canceled chan error // the context error of a "wait-for-cancel" call
	started  chan struct{}
	holding  chan struct{} // a Hold call has started
	held     chan error    // the context cause that ended a Hold call
}

func newEcho() *echo {
	return &echo{
		canceled: make(chan error, 1),
		started:  make(chan struct{}),
		holding:  make(chan struct{}, 4),
		held:     make(chan error, 4),
	}
}

var echoDesc = grpc.ServiceDesc{
	ServiceName: echoService,
	HandlerType: (*echoServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Unary",
		Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return srv.(*echo).unary(ctx, in)
		},
	}},
	Streams: []grpc.StreamDesc{
		{StreamName: "ServerStream", ServerStreams: true, Handler: func(srv any, ss grpc.ServerStream) error {
			return srv.(*echo).serverStream(ss)
		}},
		{StreamName: "ClientStream", ClientStreams: true, Handler: func(srv any, ss grpc.ServerStream) error {
			return srv.(*echo).clientStream(ss)
		}},
		{StreamName: "Bidi", ServerStreams: true, ClientStreams: true, Handler: func(srv any, ss grpc.ServerStream) error {
			return srv.(*echo).bidi(ss)
		}},
		{StreamName: "Hold", ServerStreams: true, ClientStreams: true, Handler: func(srv any, ss grpc.ServerStream) error {
			return srv.(*echo).hold(ss)
		}},
	},
}

func (e *echo) unary(ctx context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	switch v := string(in.Value); v {
	case "not-found":
		return nil, status.Error(codes.NotFound, "no such thing: ünïcode 100% \"quoted\"")
	case "with-details":
		st, err := status.New(codes.FailedPrecondition, "see details").WithDetails(wrapperspb.String("the detail"))
		if err != nil {
			return nil, err
		}
		return nil, st.Err()
	case "wait-for-cancel":
		close(e.started)
		<-ctx.Done()
		e.canceled <- ctx.Err()
		return nil, ctx.Err()
	case "wait-for-deadline":
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	md, _ := metadata.FromIncomingContext(ctx)
	// The peer's TLS state reaches grpc through http.Request.TLS.
	alpn := "none"
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok {
			alpn = info.State.NegotiatedProtocol
		}
	}
	grpc.SetHeader(ctx, metadata.Pairs("x-header", "h-"+strings.Join(md.Get("x-client"), ","), "x-alpn", alpn))
	grpc.SetTrailer(ctx, metadata.Pairs("x-trailer", "t1", "x-trailer-bin", "\x00\xffbinary"))
	return wrapperspb.Bytes(bytes.ToUpper(in.Value)), nil
}

// serverStream answers a count n with n messages.
func (e *echo) serverStream(ss grpc.ServerStream) error {
	in := new(wrapperspb.BytesValue)
	if err := ss.RecvMsg(in); err != nil {
		return err
	}
	n, err := strconv.Atoi(string(in.Value))
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	ss.SetHeader(metadata.Pairs("x-count", strconv.Itoa(n)))
	for i := range n {
		if err := ss.SendMsg(wrapperspb.Bytes([]byte("msg " + strconv.Itoa(i)))); err != nil {
			return err
		}
	}
	ss.SetTrailer(metadata.Pairs("x-sent", strconv.Itoa(n)))
	return nil
}

// clientStream joins every message it receives.
func (e *echo) clientStream(ss grpc.ServerStream) error {
	var all []byte
	for {
		in := new(wrapperspb.BytesValue)
		err := ss.RecvMsg(in)
		if err == io.EOF {
			return ss.SendMsg(wrapperspb.Bytes(all))
		}
		if err != nil {
			return err
		}
		all = append(all, in.Value...)
	}
}

// bidi answers each message with its upper-case form.
func (e *echo) bidi(ss grpc.ServerStream) error {
	for {
		in := new(wrapperspb.BytesValue)
		err := ss.RecvMsg(in)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ss.SendMsg(wrapperspb.Bytes(bytes.ToUpper(in.Value))); err != nil {
			return err
		}
	}
}

// hold keeps its stream open, sending and reading nothing, until its
// context ends, and reports the cause with which h2server ended the
// request's context. (grpc-go derives the call's context from it, but
// its HTTP transport also cancels the call's context, without a cause, as
// soon as it sees the request's end: that can beat the cause's
// propagation.)
func (e *echo) hold(ss grpc.ServerStream) error {
	ctx := ss.Context()
	e.holding <- struct{}{}
	<-ctx.Done()
	cause := context.Cause(ctx)
	if rc, ok := ctx.Value(requestContextKey{}).(context.Context); ok {
		cause = context.Cause(rc)
	}
	e.held <- cause
	return status.FromContextError(ctx.Err()).Err()
}

// requestContextKey keys the http.Request's own context in itself, for
// the gRPC handlers: see withRequestContext.
type requestContextKey struct{}

// withRequestContext makes the request's context, as h2server made it,
// reachable from a gRPC handler's context.
func withRequestContext(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestContextKey{}, r.Context())))
	})
}

// logLines collects the h2server's log output.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// grpcServer is a grpc.Server hosted by an h2server.Server through
// HTTPHandler.
type grpcServer struct {
	echo   *echo
	health *health.Server
	logs   *logLines
	addr   string
	creds  credentials.TransportCredentials // what a client needs to dial addr
	// checkLogs judges the server's log once it has shut down; nil wants
	// it empty.
	checkLogs func(logs string) error
}

// grpcEnv is a grpcServer and a grpc-go client connected to it.
type grpcEnv struct {
	*grpcServer
	conn *grpc.ClientConn
}

// startGRPC serves over TLS (ALPN h2) when useTLS, else h2c, and
// connects a client. Cleanup closes the client, shuts the server down
// gracefully and checks that it stopped cleanly.
func startGRPC(t *testing.T, useTLS bool) *grpcEnv {
	t.Helper()
	s := serveGRPC(t, useTLS, nil)
	return &grpcEnv{grpcServer: s, conn: s.dial(t, s.addr)}
}

// serveGRPC starts a server, configured further by configure if it is
// not nil. Cleanup shuts it down gracefully and checks that it stopped
// cleanly.
func serveGRPC(t *testing.T, useTLS bool, configure func(*h2server.Server)) *grpcServer {
	t.Helper()
	e := &grpcServer{
		echo:   newEcho(),
		health: health.NewServer(),
		logs:   &logLines{},
	}
	gs := grpc.NewServer()
	gs.RegisterService(&echoDesc, e.echo)
	healthpb.RegisterHealthServer(gs, e.health)
	e.health.SetServingStatus(echoService, healthpb.HealthCheckResponse_SERVING)

	srv := &h2server.Server{
		Handler: h2server.HTTPHandler(withRequestContext(gs)),
		Logger:  slog.New(slog.NewTextHandler(e.logs, nil)),
	}
	if configure != nil {
		configure(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	e.creds = insecure.NewCredentials()
	if useTLS {
		cert, pool := testCert()
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
		e.creds = credentials.NewTLS(&tls.Config{RootCAs: pool})
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != h2server.ErrServerClosed {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		gs.Stop()
		logs := e.logs.String()
		if e.checkLogs != nil {
			if err := e.checkLogs(logs); err != nil {
				t.Errorf("%v; the server logged:\n%s", err, logs)
			}
		} else if logs != "" {
			t.Errorf("the server logged:\n%s", logs)
		}
	})
	return e
}

// dial makes a client of the server that reaches it at addr (its own,
// or a proxy's). Cleanup closes the client, before the server stops.
func (e *grpcServer) dial(t *testing.T, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, append([]grpc.DialOption{grpc.WithTransportCredentials(e.creds)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

func (e *grpcEnv) stream(t *testing.T, i int, md ...string) grpc.ClientStream {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(callCtx(t), md...)
	desc := &echoDesc.Streams[i]
	cs, err := e.conn.NewStream(ctx, desc, "/"+echoService+"/"+desc.StreamName)
	if err != nil {
		t.Fatalf("NewStream %s: %v", desc.StreamName, err)
	}
	return cs
}

func TestGRPCThroughAdapter(t *testing.T) {
	for _, mode := range []struct {
		name string
		tls  bool
	}{{"h2c", false}, {"TLS", true}} {
		t.Run(mode.name, func(t *testing.T) { testGRPC(t, mode.tls) })
	}
}

func testGRPC(t *testing.T, useTLS bool) {
	e := startGRPC(t, useTLS)
	const unary = "/" + echoService + "/Unary"

	t.Run("UnaryMetadata", func(t *testing.T) {
		ctx := metadata.AppendToOutgoingContext(callCtx(t), "x-client", "c1")
		var hdr, trl metadata.MD
		out := new(wrapperspb.BytesValue)
		if err := e.conn.Invoke(ctx, unary, wrapperspb.Bytes([]byte("hello")), out, grpc.Header(&hdr), grpc.Trailer(&trl)); err != nil {
			t.Fatal(err)
		}
		if string(out.Value) != "HELLO" {
			t.Errorf("reply %q, want HELLO", out.Value)
		}
		if got := hdr.Get("x-header"); len(got) != 1 || got[0] != "h-c1" {
			t.Errorf("header metadata x-header = %q, want [h-c1] (all: %v)", got, hdr)
		}
		wantALPN := "none"
		if useTLS {
			wantALPN = "h2"
		}
		if got := hdr.Get("x-alpn"); len(got) != 1 || got[0] != wantALPN {
			t.Errorf("server saw ALPN %q, want %q", got, wantALPN)
		}
		if got := trl.Get("x-trailer"); len(got) != 1 || got[0] != "t1" {
			t.Errorf("trailer metadata x-trailer = %q, want [t1] (all: %v)", got, trl)
		}
		if got := trl.Get("x-trailer-bin"); len(got) != 1 || got[0] != "\x00\xffbinary" {
			t.Errorf("binary trailer metadata = %q (all: %v)", got, trl)
		}
	})
	t.Run("UnaryLarge", func(t *testing.T) {
		in := bytes.Repeat([]byte("large message "), 150_000) // ~2 MB each way
		out := new(wrapperspb.BytesValue)
		if err := e.conn.Invoke(callCtx(t), unary, wrapperspb.Bytes(in), out); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Value, bytes.ToUpper(in)) {
			t.Errorf("reply of %d bytes differs from the upper-cased %d-byte request", len(out.Value), len(in))
		}
	})
	t.Run("ErrorStatus", func(t *testing.T) {
		err := e.conn.Invoke(callCtx(t), unary, wrapperspb.Bytes([]byte("not-found")), new(wrapperspb.BytesValue))
		st, ok := status.FromError(err)
		if !ok || st.Code() != codes.NotFound || st.Message() != "no such thing: ünïcode 100% \"quoted\"" {
			t.Fatalf("got %v, want NotFound with the message intact", err)
		}
	})
	t.Run("ErrorDetails", func(t *testing.T) {
		err := e.conn.Invoke(callCtx(t), unary, wrapperspb.Bytes([]byte("with-details")), new(wrapperspb.BytesValue))
		st, _ := status.FromError(err)
		details := st.Details()
		if st.Code() != codes.FailedPrecondition || len(details) != 1 {
			t.Fatalf("got %v with details %v, want FailedPrecondition with one detail", err, details)
		}
		if d, ok := details[0].(proto.Message); !ok || !proto.Equal(d, wrapperspb.String("the detail")) {
			t.Errorf("detail %v, want \"the detail\"", details[0])
		}
	})
	t.Run("UnknownMethod", func(t *testing.T) {
		err := e.conn.Invoke(callCtx(t), "/"+echoService+"/Nope", wrapperspb.Bytes(nil), new(wrapperspb.BytesValue))
		if status.Code(err) != codes.Unimplemented {
			t.Fatalf("got %v, want Unimplemented", err)
		}
	})
	t.Run("Deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		err := e.conn.Invoke(ctx, unary, wrapperspb.Bytes([]byte("wait-for-deadline")), new(wrapperspb.BytesValue))
		if status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("got %v, want DeadlineExceeded", err)
		}
	})
	t.Run("CancelReachesHandler", func(t *testing.T) {
		ctx, cancel := context.WithCancel(callCtx(t))
		errc := make(chan error, 1)
		go func() {
			errc <- e.conn.Invoke(ctx, unary, wrapperspb.Bytes([]byte("wait-for-cancel")), new(wrapperspb.BytesValue))
		}()
		wait(t, e.echo.started, "the handler to start")
		cancel() // the client resets the stream; the request context ends
		if err := recvWithin(t, e.echo.canceled, "the handler's context to end"); !errors.Is(err, context.Canceled) {
			t.Errorf("handler context ended with %v, want context.Canceled", err)
		}
		if err := recvWithin(t, errc, "the call to return"); status.Code(err) != codes.Canceled {
			t.Errorf("call returned %v, want Canceled", err)
		}
	})
	t.Run("ServerStreaming", func(t *testing.T) {
		cs := e.stream(t, 0)
		if err := cs.SendMsg(wrapperspb.Bytes([]byte("50"))); err != nil {
			t.Fatal(err)
		}
		if err := cs.CloseSend(); err != nil {
			t.Fatal(err)
		}
		hdr, err := cs.Header()
		if err != nil || len(hdr.Get("x-count")) != 1 || hdr.Get("x-count")[0] != "50" {
			t.Fatalf("header %v, %v; want x-count 50", hdr, err)
		}
		for i := range 50 {
			out := new(wrapperspb.BytesValue)
			if err := cs.RecvMsg(out); err != nil || string(out.Value) != "msg "+strconv.Itoa(i) {
				t.Fatalf("message %d: %q, %v", i, out.Value, err)
			}
		}
		if err := cs.RecvMsg(new(wrapperspb.BytesValue)); err != io.EOF {
			t.Fatalf("after the last message: %v, want io.EOF", err)
		}
		if got := cs.Trailer().Get("x-sent"); len(got) != 1 || got[0] != "50" {
			t.Errorf("trailer x-sent = %q, want [50]", got)
		}
	})
	t.Run("ClientStreaming", func(t *testing.T) {
		cs := e.stream(t, 1)
		var want []byte
		for i := range 100 {
			part := []byte(strconv.Itoa(i) + ",")
			want = append(want, part...)
			if err := cs.SendMsg(wrapperspb.Bytes(part)); err != nil {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		if err := cs.CloseSend(); err != nil {
			t.Fatal(err)
		}
		out := new(wrapperspb.BytesValue)
		if err := cs.RecvMsg(out); err != nil || !bytes.Equal(out.Value, want) {
			t.Fatalf("got %q, %v; want %q", out.Value, err, want)
		}
		if err := cs.RecvMsg(new(wrapperspb.BytesValue)); err != io.EOF {
			t.Fatalf("after the reply: %v, want io.EOF", err)
		}
	})
	t.Run("BidiPingPong", func(t *testing.T) {
		cs := e.stream(t, 2)
		for i := range 100 {
			ping := "ping " + strconv.Itoa(i)
			if err := cs.SendMsg(wrapperspb.Bytes([]byte(ping))); err != nil {
				t.Fatalf("round %d: send: %v", i, err)
			}
			out := new(wrapperspb.BytesValue)
			if err := cs.RecvMsg(out); err != nil || string(out.Value) != strings.ToUpper(ping) {
				t.Fatalf("round %d: got %q, %v", i, out.Value, err)
			}
		}
		if err := cs.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if err := cs.RecvMsg(new(wrapperspb.BytesValue)); err != io.EOF {
			t.Fatalf("after CloseSend: %v, want io.EOF", err)
		}
	})
	t.Run("HealthCheck", func(t *testing.T) {
		hc := healthpb.NewHealthClient(e.conn)
		resp, err := hc.Check(callCtx(t), &healthpb.HealthCheckRequest{Service: echoService})
		if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check: %v, %v; want SERVING", resp, err)
		}
		_, err = hc.Check(callCtx(t), &healthpb.HealthCheckRequest{Service: "no.such.Service"})
		if status.Code(err) != codes.NotFound {
			t.Fatalf("Check of an unknown service: %v, want NotFound", err)
		}
	})
	t.Run("HealthWatch", func(t *testing.T) {
		ctx, cancel := context.WithCancel(callCtx(t))
		defer cancel()
		w, err := healthpb.NewHealthClient(e.conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: "watched"})
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := w.Recv(); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVICE_UNKNOWN {
			t.Fatalf("first update: %v, %v; want SERVICE_UNKNOWN", resp, err)
		}
		e.health.SetServingStatus("watched", healthpb.HealthCheckResponse_SERVING)
		if resp, err := w.Recv(); err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("second update: %v, %v; want SERVING", resp, err)
		}
		e.health.SetServingStatus("watched", healthpb.HealthCheckResponse_NOT_SERVING)
		if resp, err := w.Recv(); err != nil || resp.Status != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Fatalf("third update: %v, %v; want NOT_SERVING", resp, err)
		}
		cancel()
		if _, err := w.Recv(); status.Code(err) != codes.Canceled {
			t.Fatalf("after cancel: %v, want Canceled", err)
		}
	})
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
	}
}

func recvWithin[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// testCert is a self-signed certificate for 127.0.0.1, and a pool that
// trusts it.
var testCert = sync.OnceValues(func() (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "h2server grpc interop"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		panic(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
})
