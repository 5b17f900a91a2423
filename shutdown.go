package h2server

import (
	"io"
	"net"
	"time"
)

// Ending a connection: idle timeout, GOAWAY, graceful shutdown (RFC 9113
// section 6.8), and the final close.

// drain keeps reading, and discarding, for a moment after a connection
// error, so that the GOAWAY reaches a peer that is still sending instead
// of being lost to a TCP reset.
func (c *conn) drain() {
	c.runQueued(false) // the reader reads no frame again: queued streams start now
	c.parkMu.Lock()    // see conn.parkMu
	c.noPark.Store(true)
	c.setLingerLocked()
	c.parkMu.Unlock()
	io.Copy(io.Discard, c.nc)
}

// lingerTimeout bounds how long a closing connection waits for its peer.
const lingerTimeout = time.Second

// closeTransport closes the connection from outside the reader.
func (c *conn) closeTransport() {
	c.unpark()
	c.nc.Close()
}

// closeWrite ends our direction of the transport after the last frame,
// from outside the reader (see closeWrite).
func (c *conn) closeWrite() {
	c.unpark()
	c.parkMu.Lock() // keeps the reader from clearing the linger deadline
	defer c.parkMu.Unlock()
	if closeWrite(c.nc) {
		c.lingerFrom.Store(int64(time.Since(processStart)))
		c.setLingerLocked()
	}
}

// setLingerLocked gives the peer lingerTimeout from now to close its side,
// and records the deadline for parkTimedOut; parkMu held.
func (c *conn) setLingerLocked() {
	t := time.Now().Add(lingerTimeout)
	c.lingerUntil = t.UnixNano()
	c.nc.SetReadDeadline(t)
}

// maxLinger bounds how long a connection whose side we closed may keep
// us reading, however active its peer.
const maxLinger = 10 * time.Second

// lingerOn, after each frame the reader took once our side is closed
// gracefully,
// gives the peer lingerTimeout more to finish reading and close its own
// side (up to maxLinger in all). A client on a busy machine may take
// longer than lingerTimeout to read the last responses; closing on it
// while its WINDOW_UPDATEs still arrive would reset the connection and
// lose the responses it has not read yet. Reader only.
func (c *conn) lingerOn() {
	from := c.lingerFrom.Load()
	if from == 0 || c.failing.Load() {
		return // after a connection error, lingerTimeout and no more
	}
	now := time.Since(processStart)
	if now-time.Duration(from) < maxLinger {
		c.parkMu.Lock()
		c.setLingerLocked()
		c.parkMu.Unlock()
	}
}

// unpark starts the reader of a parked connection again and keeps it from
// parking: whoever closes the transport from outside the reader calls it
// first (see park.go). It does not look at c.raw: a TLS connection sets
// it after its handshake, while closing paths may already run.
func (c *conn) unpark() {
	c.srv.poller.unpark(c)
}

// closeWrite ends our direction of the transport after the last frame, and
// gives the peer lingerTimeout to close its own; it reports whether the
// transport is half-closed (rather than closed).
func closeWrite(nc net.Conn) bool {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := nc.(closeWriter); ok && cw.CloseWrite() == nil {
		nc.SetReadDeadline(time.Now().Add(lingerTimeout))
		return true
	}
	nc.Close()
	return false
}

// armIdleLocked starts the idle clock when no stream is open: the
// connection goes into the Server's idle queue (idleq.go), due IdleTimeout
// from now.
func (c *conn) armIdleLocked() {
	if len(c.streams) > 0 || c.handlers > 0 || c.life.closed {
		return
	}
	// The reader, perhaps waiting since the stream opened, should look
	// again whether it may park.
	c.armPark()
	d := c.cfg.idleTimeout
	if d <= 0 || c.life.idleArmed {
		return
	}
	c.life.idleArmed = true
	c.life.idleAt = time.Since(processStart) + d
	// The connection stays in the Server's idle queue when a stream
	// opens (disarmIdleLocked), so one that goes idle between rounds of
	// requests is queued already: onIdle looks at idleAt when its turn
	// comes.
	c.srv.idle.add(c, c.life.idleAt)
}

// disarmIdleLocked stops the idle clock when a stream opens. The
// connection stays queued and, when its turn comes, is found busy.
func (c *conn) disarmIdleLocked() {
	c.life.idleArmed = false
}

// onIdle runs when the connection's turn in the Server's idle queue
// came: it has left the queue.
func (c *conn) onIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.life.idleArmed || c.life.closed {
		return // busy: the next idle spell queues it again
	}
	if c.life.idleAt > time.Since(processStart) {
		// Idle again since it was queued: due later.
		c.srv.idle.add(c, c.life.idleAt)
		return
	}
	if len(c.streams) > 0 || c.handlers > 0 || c.life.goingAway {
		return
	}
	c.life.idleArmed = false
	c.goAwayLocked()
}

// goAwayLocked queues our final GOAWAY NO_ERROR naming the last stream we
// will serve; the connection closes once those streams are done.
func (c *conn) goAwayLocked() {
	if c.life.goingAway || c.life.closed {
		return
	}
	c.life.goingAway = true
	c.life.goAwayID = c.lastStreamID
	c.wq.push(writeItem{kind: itemGoAway, id: c.life.goAwayID, code: ErrCodeNo})
	c.maybeCloseLocked()
}

// maybeCloseLocked closes a connection that is going away once nothing
// remains to serve, and restarts the idle clock of one that is not.
func (c *conn) maybeCloseLocked() {
	if len(c.streams) > 0 || c.handlers > 0 || c.life.closed {
		return
	}
	if !c.life.goingAway {
		c.armIdleLocked()
		return
	}
	if !c.life.closeQueued {
		c.life.closeQueued = true
		c.wq.push(writeItem{kind: itemClose})
	}
}

// shutdownPingData marks the PING of a graceful shutdown.
var shutdownPingData = [8]byte{'h', '2', 's', 'h', 'u', 't', 'd', 'n'}

// shutdown starts a graceful shutdown (RFC 9113 section 6.8): a GOAWAY
// with the largest stream ID and a PING; when the PING returns, every
// stream the client opened before it is known, and the final GOAWAY
// names the last of them.
func (c *conn) shutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.w == nil {
		// Still in the handshake or preface: nothing was admitted.
		c.closeTransport()
		return
	}
	c.shutdownLocked()
}

// shutdownLocked queues the first GOAWAY and its PING of a graceful
// shutdown (see shutdown), once; mu held, the writer started.
func (c *conn) shutdownLocked() {
	if c.life.shutdownSent || c.life.goingAway || c.life.closed {
		return
	}
	// Even an idle connection gets both steps: requests may be on the
	// wire, and the PING tells us when all of them have arrived.
	c.life.shutdownSent = true
	c.wq.push(writeItem{kind: itemGoAway, id: 1<<31 - 1, code: ErrCodeNo})
	c.wq.push(writeItem{kind: itemPing, data: shutdownPingData})
	c.rareLocked().shutdownTimer = time.AfterFunc(c.cfg.shutdownPingTimeout, c.finishShutdown)
}

func (c *conn) finishShutdown() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.life.shutdownSent || c.life.closed {
		return
	}
	stopTimer(c.life.rare.shutdownTimer)
	c.goAwayLocked()
}
