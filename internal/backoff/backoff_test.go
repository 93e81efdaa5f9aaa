package backoff

import (
	"testing"
	"time"
)

func TestCeilingDoublesUntilCap(t *testing.T) {
	p := Policy{Base: time.Second, Cap: 5 * time.Minute}
	cases := []struct {
		attempt int
		want    time.Duration
	}{
		{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second},
		{9, 256 * time.Second}, {10, 5 * time.Minute}, {1000, 5 * time.Minute},
	}
	for _, c := range cases {
		if got := p.Ceiling(c.attempt); got != c.want {
			t.Errorf("Ceiling(%d) = %v, want %v", c.attempt, got, c.want)
		}
	}
}

func TestDelayIsFullJitterBelowCeiling(t *testing.T) {
	p := Policy{Base: time.Second, Cap: time.Minute}
	for _, r := range []float64{0, 0.5, 0.999999} {
		p.Rand = func() float64 { return r }
		got := p.Delay(3)
		want := time.Duration(r * float64(4*time.Second+1))
		if got != want {
			t.Errorf("rand %v: Delay(3) = %v, want %v", r, got, want)
		}
	}
	p.Rand = nil
	for i := 0; i < 1000; i++ {
		if d := p.Delay(50); d < 0 || d > time.Minute {
			t.Fatalf("Delay(50) = %v outside [0, cap]", d)
		}
	}
}
