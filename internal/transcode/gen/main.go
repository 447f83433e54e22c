// Command gen writes schemas.json, the part of the Apigee discovery
// document that keyplane's request decoder needs, from the copy that ships
// with the google.golang.org/api module this repository depends on.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/keyplane/keyplane/internal/transcode"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "google.golang.org/api").Output()
	if err != nil {
		return fmt.Errorf("locating google.golang.org/api: %w", err)
	}
	doc, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "apigee", "v1", "apigee-api.json"))
	if err != nil {
		return err
	}
	out, err := transcode.Trim(doc)
	if err != nil {
		return err
	}
	return os.WriteFile("schemas.json", out, 0o644)
}
