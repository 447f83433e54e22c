package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/spf13/cobra"
)

// defaultServer is where the client commands look for a server when neither
// --server nor KEYPLANE_SERVER says otherwise: where `make run` serves.
const defaultServer = "http://127.0.0.1:8080"

// clientEnv is what the client commands take from their surroundings. Tests
// replace it to run commands in-process with their own environment and a
// fast polling clock.
type clientEnv struct {
	// getenv reads KEYPLANE_SERVER, KEYPLANE_TOKEN, KEYPLANE_ORG and
	// KEYPLANE_ENV.
	getenv func(string) string
	// httpClient carries every request.
	httpClient *http.Client
	// pollInterval is the first wait between two looks at a running
	// operation; it grows up to maxPollInterval.
	pollInterval    time.Duration
	maxPollInterval time.Duration
	// now is the clock used for days until expiry.
	now func() time.Time
	// terminal reports whether a writer is a terminal, where waiting shows
	// a spinner.
	terminal func(io.Writer) bool
}

func defaultClientEnv() clientEnv {
	return clientEnv{
		getenv:          os.Getenv,
		httpClient:      &http.Client{Timeout: 5 * time.Minute},
		pollInterval:    250 * time.Millisecond,
		maxPollInterval: 2 * time.Second,
		now:             time.Now,
		terminal:        isTerminal,
	}
}

// addClientCommands adds the commands that drive a keyplane server over its
// HTTP API.
func addClientCommands(root *cobra.Command) {
	addClientCommandsWith(root, defaultClientEnv())
}

func addClientCommandsWith(root *cobra.Command, env clientEnv) {
	// Flag errors are usage errors (exit code 2), for every command.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	// The commands already on root (serve, migrate) run the server.
	if cmds := root.Commands(); len(cmds) > 0 {
		root.AddGroup(&cobra.Group{ID: "server", Title: "Server commands:"})
		for _, cmd := range cmds {
			if cmd.GroupID == "" {
				cmd.GroupID = "server"
			}
		}
	}
	root.AddGroup(&cobra.Group{ID: "client", Title: "Client commands (talk to a server over its HTTP API):"})
	for _, cmd := range []*cobra.Command{
		newOrganizationsCmd(env),
		newEnvironmentsCmd(env),
		newKeystoresCmd(env),
		newAliasesCmd(env),
		newReferencesCmd(env),
		newTargetServersCmd(env),
		newArchivesCmd(env),
		newApisCmd(env),
		newOperationsCmd(env),
		newCertificatesCmd(env),
		newTokensCmd(env),
	} {
		cmd.GroupID = "client"
		root.AddCommand(cmd)
	}
}

// session holds the flags every client command shares. Each command has
// its own, so that nothing leaks from one command to another in tests.
type session struct {
	env    clientEnv
	server string
	format string
	org    string
	envArg string
	// which is what bind was asked for: the flags run resolves.
	which sessionFlags
}

// Which shared flags a command takes, besides --server.
type sessionFlags int

const (
	withOrg sessionFlags = 1 << iota
	withEnv
	// withoutFormat is for commands whose output has one form, such as PEM.
	withoutFormat
)

// bind adds --server, --format (unless the command defines its own
// --format, or has one output form), and --org and --env when asked.
func (s *session) bind(cmd *cobra.Command, which sessionFlags) {
	s.which = which
	f := cmd.Flags()
	f.StringVar(&s.server, "server", "", "`URL` of the keyplane server (default $KEYPLANE_SERVER, else "+defaultServer+")")
	if f.Lookup("format") == nil && which&withoutFormat == 0 {
		f.StringVar(&s.format, "format", "", "output `FORMAT`: yaml, json or table (default table for lists, yaml otherwise)")
	}
	if which&withOrg != 0 {
		f.StringVar(&s.org, "org", "", "organization `ORG` (default $KEYPLANE_ORG)")
	}
	if which&withEnv != 0 {
		f.StringVar(&s.envArg, "env", "", "environment `ENV` (default $KEYPLANE_ENV)")
	}
}

// client returns an API client for the server and token in force.
func (s *session) client() *api.Client {
	server := s.server
	if server == "" {
		server = s.env.getenv("KEYPLANE_SERVER")
	}
	if server == "" {
		server = defaultServer
	}
	return &api.Client{BaseURL: server, Token: s.env.getenv("KEYPLANE_TOKEN"), HTTP: s.env.httpClient}
}

// orgName returns --org, else KEYPLANE_ORG; having neither is a usage error.
func (s *session) orgName() (string, error) {
	if s.org != "" {
		return s.org, nil
	}
	if v := s.env.getenv("KEYPLANE_ORG"); v != "" {
		return v, nil
	}
	return "", usageErrorf("an organization is required: pass --org or set KEYPLANE_ORG")
}

// orgEnv returns the organization and the environment in force.
func (s *session) orgEnv() (string, string, error) {
	org, err := s.orgName()
	if err != nil {
		return "", "", err
	}
	if s.envArg != "" {
		return org, s.envArg, nil
	}
	if v := s.env.getenv("KEYPLANE_ENV"); v != "" {
		return org, v, nil
	}
	return "", "", usageErrorf("an environment is required: pass --env or set KEYPLANE_ENV")
}

// where returns the organization and environment of the flags bind added:
// none, the organization, or both.
func (s *session) where() (org, env string, err error) {
	switch {
	case s.which&withEnv != 0:
		return s.orgEnv()
	case s.which&withOrg != 0:
		org, err = s.orgName()
	}
	return org, "", err
}

// outputFormat returns --format, or def when it is not set.
func (s *session) outputFormat(def string) (string, error) {
	return checkFormat(s.format, def)
}

func checkFormat(format, def string) (string, error) {
	if format == "" {
		return def, nil
	}
	switch f := strings.ToLower(format); f {
	case formatYAML, formatJSON, formatTable:
		return f, nil
	}
	return "", usageErrorf("invalid output format %q: want yaml, json or table", format)
}

// writeResult writes a command's result to its standard output in format.
func writeResult(cmd *cobra.Command, format string, v any, t *table) error {
	return printResult(cmd.OutOrStdout(), format, v, t)
}

// deletedNote ends the help of every delete command.
const deletedNote = "The deletion is reported on standard error; with --format, the deleted resource is\nalso printed on standard output."

// deleted reports a deletion on standard error and, when --format was given,
// prints what the server answered (the deleted resource) on standard output.
func (s *session) deleted(cmd *cobra.Command, kind, name string, v any) error {
	fmt.Fprintf(cmd.ErrOrStderr(), "Deleted %s [%s].\n", kind, name)
	if s.format == "" {
		return nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		if len(bytes.TrimSpace(raw)) == 0 {
			return nil
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil // not JSON: nothing to show
		}
	}
	format, err := s.outputFormat(formatYAML)
	if err != nil {
		return err
	}
	return writeResult(cmd, format, v, nil)
}

// usageError is a mistake in how a command was called: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// operationError is a long-running operation that finished with an error.
// Its message is the operation's, word for word.
type operationError struct{ status *api.Status }

func (e *operationError) Error() string { return e.status.Message }

// Exit codes of the keyplane binary.
const (
	exitOK          = 0
	exitFailed      = 1 // the request or the operation failed
	exitUsage       = 2 // the command was called wrongly
	exitUnreachable = 3 // the server cannot be reached or refused the credentials
	exitPending     = 4 // an operation's outcome could not be learned: it may still succeed
)

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	var (
		pending   *pendingError
		usage     usageError
		apiErr    *api.Error
		transport *api.TransportError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &pending):
		return exitPending
	case errors.As(err, &usage):
		return exitUsage
	case errors.Is(err, context.Canceled):
		return exitFailed
	case errors.As(err, &transport):
		return exitUnreachable
	case errors.As(err, &apiErr):
		if apiErr.HTTPStatus == http.StatusUnauthorized {
			return exitUnreachable
		}
		return exitFailed
	case isCobraUsageError(err):
		return exitUsage
	default:
		return exitFailed
	}
}

// isCobraUsageError recognizes the errors cobra makes itself without a hook
// to type them: an unknown command at the top level and required flags.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command ") ||
		strings.HasPrefix(msg, "required flag(s) ") ||
		strings.HasPrefix(msg, "if any flags in the group ")
}

// newGroupCmd returns a command that only groups subcommands. Called with
// an unknown subcommand it fails with a usage error instead of printing
// help and succeeding, which would hide typos in CI scripts.
func newGroupCmd(use, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:                        use,
		Short:                      short,
		Long:                       long,
		SuggestionsMinimumDistance: 2,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf("; did you mean %q?", s[0])
			}
			return usageErrorf("%s", msg)
		},
	}
}

// exactArgs is cobra.ExactArgs with names for the message, as a usage error.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == len(names) {
			return nil
		}
		if len(args) < len(names) {
			return usageErrorf("missing argument %s: usage: %s", strings.Join(names[len(args):], " "), cmd.UseLine())
		}
		return usageErrorf("unexpected argument %q: usage: %s", args[len(names)], cmd.UseLine())
	}
}

// maxArgs is cobra.MaximumNArgs as a usage error.
func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			return usageErrorf("unexpected argument %q: usage: %s", args[n], cmd.UseLine())
		}
		return nil
	}
}

// readSecretFile reads a file named by a flag, or standard input for "-".
// Secrets are only ever read this way, never taken from flags, so that they
// stay out of shell history and process listings.
func readSecretFile(cmd *cobra.Command, flag, path string) ([]byte, error) {
	if path == "-" {
		b, err := io.ReadAll(cmd.InOrStdin())
		if err != nil {
			return nil, fmt.Errorf("--%s: reading standard input: %w", flag, err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flag, err)
	}
	return b, nil
}

// readPassword reads a password file; one trailing line break is not part
// of the password, as `echo secret > file` adds one.
func readPassword(cmd *cobra.Command, flag, path string) (string, error) {
	b, err := readSecretFile(cmd, flag, path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// checkOneStdin fails when more than one file flag asks for standard input.
func checkOneStdin(flags map[string]string) error {
	var names []string
	for name, v := range flags {
		if v == "-" {
			names = append(names, "--"+name)
		}
	}
	sort.Strings(names)
	if len(names) > 1 {
		return usageErrorf("only one of %s can read standard input (-)", strings.Join(names, ", "))
	}
	return nil
}

// lastSegment returns the part of a resource name after its last slash,
// so that commands accept both "ID" and "organizations/o/.../ID".
func lastSegment(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// oneOf normalizes an enumerated flag value case-insensitively, or returns
// a usage error listing the allowed values.
func oneOf(flag, value string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if strings.EqualFold(value, a) {
			return a, nil
		}
	}
	return "", usageErrorf("invalid --%s %q: want one of %s", flag, value, strings.Join(allowed, ", "))
}
