package main

import (
	"fmt"
	"os"
	"time"
)

// envDuration reads the duration in environment variable name, such as
// 30s or 5m, for both `serve` and `gateway`. It reports false when the
// variable is unset or empty, and an error naming the variable when its
// value is not a duration, or, when positive is set, not above zero.
func envDuration(name string, positive bool) (time.Duration, bool, error) {
	s := os.Getenv(name)
	if s == "" {
		return 0, false, nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case positive && (err != nil || d <= 0):
		return 0, false, fmt.Errorf("%s %q is not a positive duration such as 30s", name, s)
	case err != nil:
		return 0, false, fmt.Errorf("%s %q is not a duration such as 30s", name, s)
	}
	return d, true, nil
}
