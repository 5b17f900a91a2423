package h2server

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
)

// TestHeadMemoFollowsHeader: a handler that passes one header for every
// response gets its heads from the memo, and every change to the header
// (a value changed in place, a key added, a key swapped, another status)
// shows in the next response.
func TestHeadMemoFollowsHeader(t *testing.T) {
	run(t, func(t *testing.T) {
		h := http.Header{"Content-Type": {"text/plain"}, "X-A": {"1"}}
		status := 200
		var writeErr error
		tst := newServerTester(t, HandlerFunc(func(st *Stream) {
			st.WriteHeaders(status, h)
			_, writeErr = io.WriteString(st, "hello")
		}))
		tst.greet()
		id := uint32(1)
		want := func(wantStatus, fields string) {
			t.Helper()
			tst.get(id, "/")
			r := tst.wantResponse(id)
			if r.status != wantStatus || fieldsString(r.header) != fields || r.body != "hello" {
				t.Fatalf("stream %d: %s [%s] %q, want %s [%s] \"hello\"", id, r.status, fieldsString(r.header), r.body, wantStatus, fields)
			}
			id += 2
		}
		cfg, _ := tst.srv.config()
		heads := cfg.heads
		for range 3 {
			want("200", "content-type=text/plain x-a=1")
		}
		if heads.lookup(200, h) == nil {
			t.Fatal("the same header three times: no memo")
		}
		h["X-A"][0] = "2" // in place: the memo must have copied the values
		want("200", "content-type=text/plain x-a=2")
		h.Set("X-B", "3")
		want("200", "content-type=text/plain x-a=2 x-b=3")
		delete(h, "X-B")
		h.Set("X-C", "4")
		want("200", "content-type=text/plain x-a=2 x-c=4")
		status = 404
		want("404", "content-type=text/plain x-a=2 x-c=4")

		// The declared length comes with the memo: a longer body is
		// refused on a remembered head as on a built one.
		status = 200
		h = http.Header{"Content-Length": {"4"}}
		for range 3 {
			tst.get(id, "/")
			tst.wantRSTStream(id, ErrCodeInternal)
			if writeErr == nil {
				t.Fatalf("stream %d: a 5-byte body after content-length 4 was accepted", id)
			}
			id += 2
		}
		if heads.lookup(200, h) == nil {
			t.Fatal("content-length head: no memo")
		}
	})
}

// TestHeadMemoConcurrent: handlers on many goroutines share one header
// and the memo (run with -race), with Go's clients.
func TestHeadMemoConcurrent(t *testing.T) {
	h := http.Header{"Content-Type": {"text/plain"}, "X-Shared": {"yes"}}
	newServer := func() *Server {
		return &Server{Handler: HandlerFunc(func(st *Stream) {
			st.WriteHeaders(200, h)
			io.WriteString(st, "ok")
		})}
	}
	forEachGoClient(t, newServer, func(t *testing.T, ls *liveServer, c *http.Client) {
		var wg sync.WaitGroup
		errs := make(chan error, 200)
		for range 8 {
			wg.Go(func() {
				for range 25 {
					resp, err := c.Do(mustRequest(t, "GET", ls.url+"/", nil))
					if err != nil {
						errs <- err
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.Header.Get("X-Shared") != "yes" || resp.Header.Get("Content-Type") != "text/plain" || string(body) != "ok" {
						errs <- fmt.Errorf("response %s %q %q", resp.Status, resp.Header, body)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if cfg, _ := ls.srv.config(); cfg.heads.lookup(200, h) == nil {
			t.Error("200 responses with one header: no memo")
		}
	})
}

// TestHeadMemoNotForAdapter: the net/http adapter's header is new for
// every response, and its heads never reach the memo.
func TestHeadMemoNotForAdapter(t *testing.T) {
	h := http.Header{"Content-Type": {"text/plain"}}
	srv := &Server{Handler: HTTPHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = h["Content-Type"]
		io.WriteString(w, "ok")
	}))}
	ls := startServer(t, srv, false)
	c := &http.Client{Transport: goClients[0].pooled(t, ls)}
	for range 3 {
		resp, err := c.Do(mustRequest(t, "GET", ls.url+"/", nil))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	cfg, _ := srv.config()
	for i := range cfg.heads.slot {
		if cfg.heads.slot[i].Load() != nil || cfg.heads.last[i].Load() != nil {
			t.Fatalf("slot %d of the memo is in use after adapter responses", i)
		}
	}
}
