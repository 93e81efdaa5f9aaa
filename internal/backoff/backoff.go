// Package backoff computes retry delays: exponential growth, full jitter,
// and a cap.
//
// The delay for attempt n (1-based) is a uniformly random duration in
// [0, min(Cap, Base·2^(n-1))] ("full jitter", as in the AWS architecture
// blog's analysis): retries of many queued actions after an outage spread
// out instead of arriving at the provider in waves.
//
// Policy is a pure function of the attempt count, not a stateful object,
// because the outbox persists attempts in SQLite and computes
// next_attempt_at from it after any restart. That is why we do not use
// cenkalti/backoff, whose ExponentialBackOff keeps its state in memory and
// jitters around the interval rather than below it.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff with full jitter and a cap.
type Policy struct {
	Base time.Duration // ceiling of the first delay
	Cap  time.Duration // no delay is ever longer
	// Rand returns a uniform float64 in [0,1). Nil means math/rand/v2.
	// Tests set it to make delays deterministic.
	Rand func() float64
}

// Outbox is the policy the outbox uses: 1 s growing to at most 5 minutes.
var Outbox = Policy{Base: time.Second, Cap: 5 * time.Minute}

// Ceiling is the largest delay attempt may get: min(Cap, Base·2^(attempt-1)).
func (p Policy) Ceiling(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	d := p.Base
	for i := 1; i < attempt; i++ {
		if d >= p.Cap/2 {
			return p.Cap
		}
		d *= 2
	}
	if d > p.Cap {
		return p.Cap
	}
	return d
}

// Delay returns a random delay in [0, Ceiling(attempt)].
func (p Policy) Delay(attempt int) time.Duration {
	r := p.Rand
	if r == nil {
		r = rand.Float64
	}
	return time.Duration(r() * float64(p.Ceiling(attempt)+1))
}
