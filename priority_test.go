package h2server

import (
	"io"
	"strings"
	"testing"

	"golang.org/x/net/http2"
)

func TestParsePriority(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want priority
	}{
		{"", priority{3, false, true}},
		{"u=0", priority{0, false, true}},
		{"u=7, i", priority{7, true, true}},
		{"i=?1, u=2", priority{2, true, true}},
		{"u=5, i=?0", priority{5, false, true}},
		{"u=8", priority{3, false, true}},        // out of range: ignored
		{"u=-1", priority{3, false, true}},       // not an urgency
		{"u=1;x=y, z", priority{1, false, true}}, // parameters and unknown members
		{"i=1", priority{3, false, true}},        // not a boolean
	} {
		if got := parsePriority(tc.in, defaultPriority); got != tc.want {
			t.Errorf("parsePriority(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestRFC9218_UrgentStreamsFirst: with streams waiting on the connection
// window, the more urgent one is served first, whatever the order they
// became ready in, and PRIORITY_UPDATE changes the order. "Served first"
// is checked as what a client sees: the urgent response is complete
// before the less urgent one gets a byte of its body. END_STREAM may
// come on the last DATA frame or on an empty one after it (when the
// handler's Close reaches the writer after its body): both are right.
func TestRFC9218_UrgentStreamsFirst(t *testing.T) {
	for _, update := range []bool{false, true} {
		t.Run(map[bool]string{false: "header", true: "priority_update"}[update], func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := newServerTester(t, HandlerFunc(func(st *Stream) {
					if st.Request().Path == "/big" {
						st.Write(make([]byte, 65535))
						return
					}
					io.WriteString(st, strings.TrimPrefix(st.Request().Path, "/"))
				}))
				tst.greet()
				tst.get(1, "/big") // spends the whole connection window
				if r := tst.wantResponse(1); len(r.body) != 65535 {
					t.Fatalf("stream 1: got %d bytes, want 65535", len(r.body))
				}
				tst.writeHeaders(3, true, reqFields("GET", "/lazy", "priority", "u=7")...)
				tst.writeHeaders(5, true, reqFields("GET", "/eager", "priority", "u=0")...)
				wantFrame[*http2.MetaHeadersFrame](tst) // heads need no window
				wantFrame[*http2.MetaHeadersFrame](tst)
				first, second := uint32(5), uint32(3)
				if update {
					tst.fr.WritePriorityUpdate(3, "u=0")
					tst.fr.WritePriorityUpdate(5, "u=6")
					first, second = 3, 5
				}
				tst.wantIdle()
				tst.fr.WriteWindowUpdate(0, 100) // room for both bodies
				bodies := map[uint32]string{}
				ended := map[uint32]bool{}
				for !ended[3] || !ended[5] {
					f := wantFrame[*http2.DataFrame](tst)
					id := f.StreamID
					if (id != 3 && id != 5) || ended[id] {
						t.Fatalf("got %v end_stream=%v, want DATA of the open streams 3 and 5", summarize(f), f.StreamEnded())
					}
					if id == second && len(f.Data()) > 0 && !ended[first] {
						t.Fatalf("stream %d got %d body bytes before stream %d's response was complete (it had %q)",
							second, len(f.Data()), first, bodies[first])
					}
					bodies[id] += string(f.Data())
					ended[id] = f.StreamEnded()
				}
				if bodies[3] != "lazy" || bodies[5] != "eager" {
					t.Fatalf("bodies %v, want 3:lazy 5:eager", bodies)
				}
				tst.wantIdle()
			})
		})
	}
}

// TestRFC9218_SequentialOnlyWhenAsked: without a priority signal, streams
// of equal urgency take turns a frame at a time; with "u=3" (not
// incremental) the first is finished before the second starts.
func TestRFC9218_SequentialOnlyWhenAsked(t *testing.T) {
	for _, signal := range []bool{false, true} {
		t.Run(map[bool]string{false: "no_signal", true: "signalled"}[signal], func(t *testing.T) {
			run(t, func(t *testing.T) {
				tst := newServerTester(t, HandlerFunc(func(st *Stream) {
					if st.Request().Path == "/big" {
						st.Write(make([]byte, 65535)) // spends the connection window
						return
					}
					st.Write(make([]byte, 3*16384))
				}))
				tst.greet()
				tst.get(1, "/big")
				// To its END_STREAM, which may come on an empty DATA frame
				// after the body.
				if r := tst.wantResponse(1); len(r.body) != 65535 {
					t.Fatalf("stream 1: got %d bytes, want 65535", len(r.body))
				}
				var extra []string
				if signal {
					extra = []string{"priority", "u=3"}
				}
				tst.writeHeaders(3, true, reqFields("GET", "/a", extra...)...)
				tst.writeHeaders(5, true, reqFields("GET", "/b", extra...)...)
				wantFrame[*http2.MetaHeadersFrame](tst)
				wantFrame[*http2.MetaHeadersFrame](tst)
				tst.fr.WriteWindowUpdate(0, 4*16384)
				var order []uint32
				for range 4 {
					order = append(order, wantFrame[*http2.DataFrame](tst).StreamID)
				}
				interleaved := order[0] != order[1]
				if interleaved == signal {
					t.Fatalf("DATA order %v: interleaved=%v, want %v", order, interleaved, !signal)
				}
			})
		})
	}
}
