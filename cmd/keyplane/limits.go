package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/keyplane/keyplane/internal/clientlimit"
)

// clientLimitsFromEnv reads the slow-client deadlines and the connection
// limit per client address from the environment variables prefix+NAME,
// such as KEYPLANE_BODY_IDLE_TIMEOUT or KEYPLANE_GATEWAY_BODY_IDLE_TIMEOUT;
// unset ones stay zero, which means the server's default.
func clientLimitsFromEnv(prefix string) (clientlimit.Timeouts, int, error) {
	var t clientlimit.Timeouts
	for _, v := range []struct {
		name string
		d    *time.Duration
	}{
		{"HEADER_TIMEOUT", &t.ReadHeader},
		{"BODY_IDLE_TIMEOUT", &t.BodyIdle},
		{"BODY_TIMEOUT", &t.Read},
		{"WRITE_TIMEOUT", &t.Write},
		{"REQUEST_TIMEOUT", &t.Request},
		{"IDLE_TIMEOUT", &t.Idle},
	} {
		d, set, err := envDuration(prefix+v.name, true)
		if err != nil {
			return t, 0, err
		}
		if set {
			*v.d = d
		}
	}
	conns := 0
	name := prefix + "MAX_CONNS_PER_ADDR"
	if s := os.Getenv(name); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return t, 0, fmt.Errorf("%s %q is not a number of connections (0 for no limit)", name, s)
		}
		conns = n
		if n == 0 {
			conns = -1
		}
	}
	return t, conns, nil
}

// clientLimitsHelp documents the variables clientLimitsFromEnv reads, with
// the defaults def and defConns, for a command's --help.
func clientLimitsHelp(prefix string, def clientlimit.Timeouts, defConns int) string {
	pad := func(s string) string { return fmt.Sprintf("  %-38s ", prefix+s) }
	return pad("HEADER_TIMEOUT") + fmt.Sprintf("longest to send the request headers (default %s)\n", def.ReadHeader) +
		pad("BODY_IDLE_TIMEOUT") + fmt.Sprintf("longest pause while sending a body (default %s)\n", def.BodyIdle) +
		pad("BODY_TIMEOUT") + fmt.Sprintf("longest to send a whole body (default %s)\n", def.Read) +
		pad("WRITE_TIMEOUT") + fmt.Sprintf("longest one write of an answer waits for the client (default %s)\n", def.Write) +
		pad("REQUEST_TIMEOUT") + fmt.Sprintf("longest a whole request may take (default %s)\n", def.Request) +
		pad("IDLE_TIMEOUT") + fmt.Sprintf("longest a keep-alive connection waits (default %s)\n", def.Idle) +
		pad("MAX_CONNS_PER_ADDR") + fmt.Sprintf("connections one client address may hold (default %d, 0: no limit)\n", defConns)
}
