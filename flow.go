package h2server

// Flow control (RFC 9113 section 5.2 and 6.9).
//
// Inbound windows are the ones we advertise. The connection window is
// credited back as soon as DATA arrives (see conn.onData), so one handler
// that reads slowly never stalls its neighbours; what bounds memory is each
// stream's window, which is credited only as the handler reads.
//
// Outbound windows are the ones the peer grants us. They belong to the
// writer goroutine, which is the only code that spends them.

// maxWindow is the largest flow-control window RFC 9113 section 6.9.1 allows.
const maxWindow = 1<<31 - 1

// defaultWindow is the initial window of RFC 9113 section 6.9.2, in
// force until SETTINGS say otherwise.
const defaultWindow = 65535

// inflow is a window we advertised: how much the peer may still send, and
// how much we have consumed but not yet given back.
type inflow struct {
	avail   int32 // bytes the peer may still send before our next WINDOW_UPDATE
	unacked int32 // bytes consumed locally, not yet returned by WINDOW_UPDATE
}

// take spends n bytes of the window for a DATA frame that arrived. It
// reports false when the peer sent more than we allowed.
// The window may be negative after our SETTINGS lowered it (see
// conn.onSettingsAck).
func (f *inflow) take(n uint32) bool {
	if int64(n) > int64(f.avail) {
		return false
	}
	f.avail -= int32(n)
	return true
}

// give records that n bytes were consumed and returns the WINDOW_UPDATE
// increment to send now, or 0 while the total stays below threshold.
// Batching keeps a stream of small reads from becoming a stream of
// WINDOW_UPDATE frames.
func (f *inflow) give(n int, threshold int32) uint32 {
	f.unacked += int32(n)
	if f.unacked < threshold {
		return 0
	}
	incr := f.unacked
	f.unacked = 0
	f.avail += incr
	return uint32(incr)
}

// outflow is a window the peer granted us. A stream's window may go
// negative when the peer lowers SETTINGS_INITIAL_WINDOW_SIZE (RFC 9113
// section 6.9.2).
type outflow int32

// add applies a WINDOW_UPDATE increment or a SETTINGS delta; it reports
// false if the window would pass 2^31-1, a FLOW_CONTROL_ERROR.
func (f *outflow) add(n int64) bool {
	sum := int64(*f) + n
	if sum > maxWindow {
		return false
	}
	*f = outflow(sum)
	return true
}
