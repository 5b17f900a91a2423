package h2server

import "time"

// The client's PINGs (RFC 9113 section 6.7). Each one costs us an ACK, a
// write and a wake-up of an idle connection; keepalive and bandwidth
// probes need a few, a flood needs none. As grpc-go's EnforcementPolicy
// does, a PING that comes sooner than MinPingInterval after the previous
// one is a strike, as is, with RejectPingsWithoutStream, one on a
// connection with no stream open; a third strike in a row ends the
// connection with GOAWAY ENHANCE_YOUR_CALM "too_many_pings". Strikes are
// forgiven whenever we have sent HEADERS or DATA since the last PING: a
// client measuring a transfer (grpc-go's BDP estimator pings as data
// arrives) is doing nothing wrong.

// maxPingStrikes is how many strikes in a row are tolerated.
const maxPingStrikes = 2

// judgePing charges a client PING to the policy. Reader only.
func (c *conn) judgePing() error {
	min := c.cfg.minPingInterval
	if min <= 0 {
		return nil
	}
	now := uint32(time.Since(processStart)/time.Millisecond) | 1 // 0 means never
	if c.sentResponse.Swap(false) {
		c.rd.pingStrikes = 0
	}
	// A tenth of slack: a client pinging every MinPingInterval exactly
	// must not be charged for the jitter of its timers and the network.
	tooSoon := c.rd.lastPing != 0 && time.Duration(now-c.rd.lastPing)*time.Millisecond < min-min/10
	c.rd.lastPing = now
	idle := c.cfg.rejectPingsWithoutStream && c.nstreams.Load() == 0
	if !tooSoon && !idle {
		c.rd.pingStrikes = 0
		return nil
	}
	c.rd.pingStrikes++
	if c.rd.pingStrikes > maxPingStrikes {
		return connError{ErrCodeEnhanceYourCalm, "too_many_pings"}
	}
	return nil
}
