package h2server

// The handler-done cancel cause is exported (fault j4 of the outside
// review). This file uses ErrHandlerReturned, which the old code did not
// have: it cannot be compiled against it, and that is the fault.

import (
	"context"
	"errors"
	"io"
	"testing"
)

// TestFaultJ4_ErrHandlerReturnedIsTheCause: once the handler returns,
// context.Cause of its stream's context is ErrHandlerReturned, whether the
// context was made before or after, and Read returns it too.
func TestFaultJ4_ErrHandlerReturnedIsTheCause(t *testing.T) {
	run(t, func(t *testing.T) {
		type handled struct {
			st  *Stream
			ctx context.Context
		}
		got := make(chan handled, 1)
		tst := newServerTester(t, HandlerFunc(func(st *Stream) {
			got <- handled{st, st.Context()}
			io.WriteString(st, "done")
		}))
		tst.greet()
		tst.writeHeaders(1, false, reqFields("POST", "/")...)
		tst.wantResponse(1)
		tst.wantRSTStream(1, ErrCodeNo) // the unread body
		h := <-got
		st, before := h.st, h.ctx
		if err := context.Cause(before); !errors.Is(err, ErrHandlerReturned) {
			t.Errorf("cause of the handler's context = %v, want ErrHandlerReturned", err)
		}
		if err := context.Cause(st.Context()); !errors.Is(err, ErrHandlerReturned) {
			t.Errorf("cause of a context made after the return = %v, want ErrHandlerReturned", err)
		}
		if _, err := st.Read(make([]byte, 1)); !errors.Is(err, ErrHandlerReturned) {
			t.Errorf("Read after the return = %v, want ErrHandlerReturned", err)
		}
	})
}
