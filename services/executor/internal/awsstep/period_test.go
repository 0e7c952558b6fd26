package awsstep

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPeriodSeconds(t *testing.T) {
	tests := []struct {
		name   string
		period time.Duration
		want   int32
	}{
		{"sub-second rounds up to 1s", time.Millisecond, 1},
		{"high resolution kept", 10 * time.Second, 10},
		{"between high resolutions rounds up", 11 * time.Second, 20},
		{"just under a minute", 31 * time.Second, 60},
		{"a minute", time.Minute, 60},
		{"rounds up to whole minutes", 61 * time.Second, 120},
		{"five minutes", 5 * time.Minute, 300},
		{"longer than an int32 of seconds is capped", 100 * 365 * 24 * time.Hour, math.MaxInt32 / 60 * 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, periodSeconds(tt.period))
		})
	}
}
