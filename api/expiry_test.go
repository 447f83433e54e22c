package api_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
)

func TestParseWithin_DaysOrGoDurations(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"30d":      30 * 24 * time.Hour,
		"0d":       0,
		"106751d":  106751 * 24 * time.Hour,
		"720h":     720 * time.Hour,
		"720h0m0s": 720 * time.Hour,
		"36h30m":   36*time.Hour + 30*time.Minute,
		"0s":       0,
	} {
		got, err := api.ParseWithin(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for in, want := range map[string]string{
		"":        "want a duration such as 720h or 30d",
		"d":       "want a duration such as 720h or 30d",
		"30":      "want a duration such as 720h or 30d",
		"1.5d":    "want a duration such as 720h or 30d",
		"30D":     "want a duration such as 720h or 30d",
		"1d12h":   "want a duration such as 720h or 30d",
		"soon":    "want a duration such as 720h or 30d",
		"-1h":     "it must not be negative",
		"-2d":     "it must not be negative",
		"106752d": "it is longer than the longest duration, about 292 years",
	} {
		_, err := api.ParseWithin(in)
		require.EqualError(t, err, want, in)
	}
}

func TestDaysLeft_CountsWholeDaysAndNeverZeroOnceExpired(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		expiry time.Time
		want   int
	}{
		{now.Add(90*24*time.Hour - time.Second), 89},
		{now.Add(24 * time.Hour), 1},
		{now.Add(time.Minute), 0},
		{now, 0},
		{now.Add(-time.Minute), -1},
		{now.Add(-36 * time.Hour), -1},
		{now.Add(-48*time.Hour - time.Minute), -2},
	} {
		require.Equal(t, tc.want, api.DaysLeft(now, tc.expiry), tc.expiry.Sub(now).String())
	}
}
