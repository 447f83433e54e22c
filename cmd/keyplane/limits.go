package main

import (
	"fmt"

	"github.com/keyplane/keyplane/internal/clientlimit"
)

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
