package h2server

// streamState is a stream's state in the RFC 9113 section 5.1 life cycle,
// as a server sees it. Server push is not supported, so the reserved
// states never occur:
//
//	                         +--------+
//	                 recv H  |        |
//	          ,--------------+  idle  |
//	         /               |        |
//	        v                +--------+
//	+--------+
//	|        |  recv ES   +----------+
//	|  open  +----------->|   half-  |
//	|        |            |  closed  |  send ES / R
//	+---+--+-+            | (remote) +-----------.
//	    |  |              +----------+            \
//	    |  | send ES      +----------+             v
//	    |  `------------->|   half-  |  recv ES  +--------+
//	    |                 |  closed  +---------->|        |
//	    |    send R /     | (local)  |  send R / | closed |
//	    `---------------->+----------+  recv R   |        |
//	         recv R              `-------------->+--------+
//
//	H: HEADERS frame (with implied CONTINUATION frames)
//	ES: END_STREAM flag
//	R: RST_STREAM frame
//
// The state is guarded by the connection's mu: the reader moves it on
// frames it receives, the writer on END_STREAM and RST_STREAM it sends.
type streamState uint8

const (
	stateIdle streamState = iota
	stateOpen
	stateHalfClosedRemote
	stateHalfClosedLocal
	stateClosed
)

func (s streamState) String() string {
	switch s {
	case stateIdle:
		return "idle"
	case stateOpen:
		return "open"
	case stateHalfClosedRemote:
		return "half-closed (remote)"
	case stateHalfClosedLocal:
		return "half-closed (local)"
	}
	return "closed"
}

// streamEvent is something that moves a stream between states.
type streamEvent uint8

const (
	evRecvHeaders   streamEvent = iota // HEADERS opening the stream
	evRecvEndStream                    // END_STREAM received (on DATA or HEADERS)
	evSendEndStream                    // END_STREAM sent
	evReset                            // RST_STREAM sent or received
)

// next returns the state after ev, and false when ev is not allowed in s.
// A DATA or trailer HEADERS frame that arrives once the peer's side is
// closed is caught here as a STREAM_CLOSED error (RFC 9113 section 5.1).
func (s streamState) next(ev streamEvent) (streamState, bool) {
	switch ev {
	case evRecvHeaders:
		if s == stateIdle {
			return stateOpen, true
		}
	case evRecvEndStream:
		switch s {
		case stateOpen:
			return stateHalfClosedRemote, true
		case stateHalfClosedLocal:
			return stateClosed, true
		}
	case evSendEndStream:
		switch s {
		case stateOpen:
			return stateHalfClosedLocal, true
		case stateHalfClosedRemote:
			return stateClosed, true
		}
	case evReset:
		switch s {
		case stateOpen, stateHalfClosedRemote, stateHalfClosedLocal:
			return stateClosed, true
		}
	}
	return s, false
}

// canRecv reports whether the peer may still send DATA or trailers.
func (s streamState) canRecv() bool { return s == stateOpen || s == stateHalfClosedLocal }
