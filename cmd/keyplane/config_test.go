package main

import (
	"testing"
	"time"
)

// TestEnvDuration_ServeAndGatewayRules reads durations by the one rule
// both binaries share: unset is "not set", a bad value is refused naming
// the variable, and zero is refused only where a positive value is needed.
func TestEnvDuration_ServeAndGatewayRules(t *testing.T) {
	const name = "KEYPLANE_TEST_DURATION"
	for _, tt := range []struct {
		value    string
		positive bool
		want     time.Duration
		set      bool
		err      string
	}{
		{value: "", positive: true},
		{value: "90s", positive: true, want: 90 * time.Second, set: true},
		{value: "0s", positive: false, want: 0, set: true},
		{value: "0s", positive: true, err: `KEYPLANE_TEST_DURATION "0s" is not a positive duration such as 30s`},
		{value: "-1m", positive: true, err: `KEYPLANE_TEST_DURATION "-1m" is not a positive duration such as 30s`},
		{value: "soon", positive: false, err: `KEYPLANE_TEST_DURATION "soon" is not a duration such as 30s`},
		{value: "soon", positive: true, err: `KEYPLANE_TEST_DURATION "soon" is not a positive duration such as 30s`},
	} {
		t.Setenv(name, tt.value)
		d, set, err := envDuration(name, tt.positive)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%q (positive %v): error %v, want %q", tt.value, tt.positive, err, tt.err)
			}
			continue
		}
		if err != nil || d != tt.want || set != tt.set {
			t.Errorf("%q (positive %v): %v, %v, %v; want %v, %v", tt.value, tt.positive, d, set, err, tt.want, tt.set)
		}
	}
}
