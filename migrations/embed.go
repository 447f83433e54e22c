// Package migrations embeds keyplane's golang-migrate SQL files into the
// binary, so a server applies its own schema at start.
package migrations

import "embed"

// FS holds the *.up.sql and *.down.sql files.
//
//go:embed *.sql
var FS embed.FS
