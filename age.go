package h2server

import (
	"math"
	"math/rand/v2"
	"time"
)

// Connection age: MaxConnectionAge, MaxConnectionAgeGrace and
// ConnInfo.Drain.
//
// An HTTP/2 client keeps its connection for as long as it works, so an
// instance added behind a load balancer gets no traffic until
// connections are recycled, and a balancer that spreads connections
// cannot spread the requests riding on them. MaxConnectionAge recycles
// them: once a connection is about that old, it is drained with the
// graceful two-phase GOAWAY of Shutdown (RFC 9113 section 6.8), so no
// request is lost; its client opens a new connection, which the balancer
// places afresh. Each connection's age is drawn within 10% either side,
// so that a fleet's connections, opened together after a restart, do not
// all come back together.
//
// The same drain is available on demand (ConnInfo.Drain), to shed one
// busy client. MaxConnectionAgeGrace then bounds how long the streams the
// connection already admitted may run: when it is over, the connection
// closes and their contexts end with a *ConnectionError saying why.
//
// One timer per connection (lifeRare.ageTimer) serves both steps: it
// fires at the age and starts the drain, then, re-armed, at the end of
// the grace.

// ageJitter is the spread of connection ages either side of
// MaxConnectionAge, as a fraction of it.
const ageJitter = 0.1

// jitterAge draws a connection's age: d, give or take ageJitter.
func jitterAge(d time.Duration) time.Duration {
	j := time.Duration(float64(d) * ageJitter)
	if j <= 0 || d > math.MaxInt64/2 {
		return d // too small to spread, or "forever" (grpc-go's infinity)
	}
	return d - j + rand.N(2*j+1)
}

// startAgeLocked arms the age clock as the connection starts, and starts
// a drain asked for before it could begin; mu held.
func (c *conn) startAgeLocked() {
	if d := c.cfg.maxConnAge; d > 0 {
		c.rareLocked().ageTimer = time.AfterFunc(jitterAge(d), c.onAgeTimer)
	}
	if c.life.drainAsked {
		c.drainLocked("drain")
	}
}

// onAgeTimer runs when the connection reached its age (drain it) or when
// a drained connection's grace ran out (close it).
func (c *conn) onAgeTimer() {
	c.mu.Lock()
	if c.life.closed {
		c.mu.Unlock()
		return
	}
	if !c.life.draining {
		c.drainLocked("max_connection_age")
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.graceOver()
}

// Drain starts a graceful drain of the connection, as MaxConnectionAge
// does when the connection reaches its age: GOAWAY, then a PING, then
// the final GOAWAY naming the last stream the client opened. Streams
// already admitted run to completion (within MaxConnectionAgeGrace, if
// set); the client opens new streams on a new connection, which a load
// balancer may place on another instance. Drain returns at once and may
// be called more than once, from any goroutine: from a handler
// (Stream.Conn().Drain()) or a hook.
func (ci *ConnInfo) Drain() {
	if c := ci.c; c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.drainLocked("drain")
	}
}

// drainLocked starts the drain, once; mu held. reason names what asked
// for it, in the log line.
func (c *conn) drainLocked(reason string) {
	if c.life.closed || c.life.draining {
		return
	}
	if c.w == nil {
		// The handshake or preface is still running (or a ConnOpened
		// hook asked): the writer starts the drain once it can.
		c.life.drainAsked = true
		return
	}
	c.life.draining = true
	c.logger().Debug("h2server: draining connection", "reason", reason, "age", time.Since(c.info.Opened).Round(time.Millisecond))
	c.shutdownLocked()
	if g := c.cfg.maxConnAgeGrace; g > 0 {
		if r := c.rareLocked(); r.ageTimer == nil {
			r.ageTimer = time.AfterFunc(g, c.onAgeTimer)
		} else {
			r.ageTimer.Reset(g)
		}
	}
}

// errAgeGrace is the cause of a connection closed because its streams
// outlived MaxConnectionAgeGrace.
var errAgeGrace = &ConnectionError{Code: ErrCodeNo, Reason: "connection closed: streams still open when MaxConnectionAgeGrace ran out after the connection was drained"}

// graceOver closes a drained connection whose streams outlived the grace.
func (c *conn) graceOver() {
	c.countError(0, ErrCodeNo, "max_connection_age_grace")
	c.logger().Info("h2server: drained connection still had streams when MaxConnectionAgeGrace ran out; closing it",
		"grace", c.cfg.maxConnAgeGrace)
	c.cancel(errAgeGrace)
	c.closeTransport()
}
