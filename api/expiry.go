package api

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// ParseWithin reads the window of the expiry view (the expiringWithin
// parameter, the CLI's --within): a whole number of days such as "30d", or
// a Go duration such as "720h" or "36h30m". It must not be negative; "0s"
// selects the certificates already expired. The error says what is wrong
// with s, for the caller to put after the name of its parameter or flag.
func ParseWithin(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		switch {
		case err != nil:
			return 0, errors.New("want a duration such as 720h or 30d")
		case n < 0:
			return 0, errors.New("it must not be negative")
		case n > math.MaxInt64/int64(24*time.Hour):
			return 0, errors.New("it is longer than the longest duration, about 292 years")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, errors.New("want a duration such as 720h or 30d")
	case d < 0:
		return 0, errors.New("it must not be negative")
	}
	return d, nil
}

// DaysLeft counts the whole days from now until expiry. After expiry it
// counts the whole days since, negated, and is never 0: -1 on the first
// day, so that an expired certificate always reads as one.
func DaysLeft(now, expiry time.Time) int {
	const day = 24 * time.Hour
	d := expiry.Sub(now)
	if d >= 0 {
		return int(d / day)
	}
	return -max(1, int(-d/day))
}
