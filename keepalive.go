package h2server

import "time"

// Keepalive: finding peers that vanished (RFC 9113 section 6.7).
//
// A client that disappears without a FIN (a host that crashed, a NAT or
// load balancer that dropped the flow and now discards its packets)
// leaves its streams open, and their handlers waiting, until something
// times out. So while a connection has a stream open, a read silence of
// ReadIdleTimeout makes the server send a PING, and an ACK that does not
// come within PingTimeout closes the connection: every stream fails, and
// their contexts end, with a *ConnectionError whose Reason says why. A
// connection with no stream open is left to IdleTimeout, so that parked
// connections stay asleep.
//
// The reader stamps each socket read (readNow); one timer per
// connection looks at the stamp when the silence could have reached
// ReadIdleTimeout, so a busy connection costs a timer reset per
// ReadIdleTimeout, not per frame. The timer is made when a stream opens
// and dropped once the connection has none (by the timer itself, or by
// the sweep that retires idle workers, handler.go): an idle connection,
// parked or not, keeps no keepalive timer.

// keepalivePingData marks our keepalive PINGs.
var keepalivePingData = [8]byte{'h', '2', 'k', 'e', 'e', 'p', 'a', 'l'}

// readNow records that the reader read from the socket: the keepalive
// clock, in milliseconds since processStart, wrapping after 49 days
// (silences are measured by subtraction, so only their length must stay
// below that), and the reader's own clock, rd.readAt. Reader only.
func (c *conn) readNow() {
	now := time.Since(processStart)
	c.lastRead.Store(uint32(now / time.Millisecond))
	c.rd.readAt = uint32(now / time.Microsecond)
}

// silence is how long the reader has read nothing.
func (c *conn) silence() time.Duration {
	now := uint32(time.Since(processStart) / time.Millisecond)
	return time.Duration(now-c.lastRead.Load()) * time.Millisecond
}

// startKeepaliveLocked arms the keepalive clock as a stream opens on a
// connection whose clock is not running; mu held. The reader stamped the
// read that brought the stream.
func (c *conn) startKeepaliveLocked() {
	if d := c.cfg.readIdleTimeout; d > 0 && c.cfg.pingTimeout > 0 && c.life.keepalive == nil {
		var t *time.Timer
		t = time.AfterFunc(d, func() { c.onKeepalive(&t) })
		c.life.keepalive = t
	}
}

// dropKeepaliveLocked stops the keepalive clock of a connection with no
// stream and no PING of ours out; mu held.
func (c *conn) dropKeepaliveLocked() {
	if c.life.keepalive != nil && !c.life.pingOut && len(c.streams) == 0 && c.handlers == 0 {
		c.life.keepalive.Stop()
		c.life.keepalive = nil
	}
}

// onKeepalive runs when the connection may have been silent for
// ReadIdleTimeout, or when our PING has waited PingTimeout for its ACK.
// *t is the timer that fired, read under mu (its maker wrote it under
// mu): a timer dropped while its run waited for mu, and perhaps replaced
// by a stream that opened meanwhile, is no longer the clock, and its run
// does nothing.
func (c *conn) onKeepalive(t **time.Timer) {
	c.mu.Lock()
	if c.life.closed || c.life.keepalive != *t {
		c.mu.Unlock()
		return
	}
	idle, ping := c.cfg.readIdleTimeout, c.cfg.pingTimeout
	silent := c.silence()
	switch {
	case c.life.pingOut && silent >= ping:
		// No ACK, nor anything else, within PingTimeout: gone.
		c.life.pingOut = false
		c.mu.Unlock()
		c.peerGone()
		return
	case c.life.pingOut:
		// Something arrived, but not the ACK yet: a peer busy sending
		// is alive; look again when the ACK is due.
		c.life.keepalive.Reset(ping - silent)
	case silent < idle:
		c.life.keepalive.Reset(idle - silent)
	case len(c.streams) == 0 && c.handlers == 0:
		// Nothing to protect: IdleTimeout's business. The next stream
		// starts the clock again.
		c.life.keepalive = nil
	default:
		c.life.pingOut = true
		c.wq.push(writeItem{kind: itemPing, data: keepalivePingData})
		c.life.keepalive.Reset(ping)
	}
	c.mu.Unlock()
}

// onKeepaliveAck takes the ACK of our keepalive PING.
func (c *conn) onKeepaliveAck() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.life.pingOut && !c.life.closed {
		c.life.pingOut = false
		c.life.keepalive.Reset(c.cfg.readIdleTimeout)
	}
}

// errPeerGone is the cause of a connection closed because its peer
// stopped answering.
var errPeerGone = &ConnectionError{Code: ErrCodeNo, Reason: "connection closed: the peer did not answer a keepalive PING within PingTimeout"}

// peerGone closes a connection whose peer stopped answering: no GOAWAY,
// which would only wait in a socket nobody reads.
func (c *conn) peerGone() {
	c.countError(0, ErrCodeNo, "keepalive_timeout")
	c.logger().Info("h2server: peer did not answer a keepalive PING; closing the connection",
		"read_idle_timeout", c.cfg.readIdleTimeout, "ping_timeout", c.cfg.pingTimeout)
	c.cancel(errPeerGone)
	c.closeTransport()
}
