package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/spf13/cobra"
)

// call is one run of a client command, past the checks every command makes
// first: the output format and where the command works.
type call struct {
	s      *session
	cmd    *cobra.Command
	client *api.Client
	format string // --format, else the command's default
	org    string // for commands bound withOrg
	env    string // for commands bound withEnv
}

func (c *call) ctx() context.Context { return c.cmd.Context() }

// now is the command's clock.
func (c *call) now() time.Time { return c.s.env.now() }

// waiter returns a waiter for the call's operations; progress as in waiter.
func (c *call) waiter(progress io.Writer) *waiter {
	return &waiter{env: c.s.env, client: c.client, org: c.org, progress: progress, server: c.s.server}
}

// formatGiven reports whether --format was given.
func (c *call) formatGiven() bool { return c.s.format != "" }

// write writes the command's result in the call's format.
func (c *call) write(v any, t *table) error { return writeResult(c.cmd, c.format, v, t) }

// deleted reports the deletion of the resource kind called name; see
// session.deleted.
func (c *call) deleted(kind, name string, v any) error { return c.s.deleted(c.cmd, kind, name, v) }

// run returns the RunE of a command: it checks --format (def when it is not
// given), then finds the organization and environment the command was bound
// to take, then calls do.
func (s *session) run(def string, do func(c *call, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		format, err := s.outputFormat(def)
		if err != nil {
			return err
		}
		org, env, err := s.where()
		if err != nil {
			return err
		}
		return withCLIFlags(do(&call{s: s, cmd: cmd, client: s.client(), format: format, org: org, env: env}, args))
	}
}

// apiToFlags rewrites what the server's messages say to set in the API
// (query parameters, multipart fields) into the flags that set it in the
// CLI, so that a message tells a CLI user what to type.
var apiToFlags = strings.NewReplacer(
	"set ignoreExpiryValidation=true", "give --ignore-expiry-validation",
	"set ignoreNewlineValidation=true", "give --ignore-newline-validation",
	"certFile ", "--cert-file ",
	"keyFile ", "--key-file ",
)

// withCLIFlags returns err with its server message in the CLI's terms
// (see apiToFlags); other errors pass as they are.
func withCLIFlags(err error) error {
	var apiErr *api.Error
	if !errors.As(err, &apiErr) {
		return err
	}
	msg := apiToFlags.Replace(apiErr.Message)
	if msg == apiErr.Message {
		return err
	}
	out := *apiErr
	out.Message = msg
	return &out
}

// clientCmd makes cmd a client command: it takes the shared flags of scope
// (see session.bind) and runs do through session.run, with def the default
// output format.
func clientCmd(env clientEnv, scope sessionFlags, def string, cmd *cobra.Command, do func(c *call, args []string) error) *cobra.Command {
	s := &session{env: env}
	cmd.RunE = s.run(def, do)
	s.bind(cmd, scope)
	return cmd
}

// getter is an API call on one resource of an organization or environment,
// by name; env is "" for organization resources. Its arguments are in the
// order of a method expression such as (*api.Client).GetReference.
type getter[T any] func(cl *api.Client, ctx context.Context, org, env, name string) (T, error)

// lister is an API call that lists the names of an organization's or an
// environment's resources, such as (*api.Client).ListKeystores.
type lister func(cl *api.Client, ctx context.Context, org, env string) ([]string, error)

// listCmd returns a command that lists names, under NAME in table form.
func listCmd(env clientEnv, use, short string, scope sessionFlags, list lister) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: exactArgs()}
	return clientCmd(env, scope, formatTable, cmd, func(c *call, _ []string) error {
		names, err := list(c.client, c.ctx(), c.org, c.env)
		if err != nil {
			return err
		}
		return c.write(names, namesTable(names))
	})
}

// describeCmd returns `describe ARG`, which prints what get returns.
func describeCmd[T any](env clientEnv, arg, short string, scope sessionFlags, get getter[T]) *cobra.Command {
	cmd := &cobra.Command{Use: "describe " + arg, Short: short, Args: exactArgs(arg)}
	return clientCmd(env, scope, formatYAML, cmd, func(c *call, args []string) error {
		out, err := get(c.client, c.ctx(), c.org, c.env, args[0])
		if err != nil {
			return err
		}
		return c.write(out, nil)
	})
}

// deleteCmd returns `delete ARG`, which deletes a resource of the given kind
// with del and reports it (see session.deleted).
func deleteCmd[T any](env clientEnv, arg, short, kind string, scope sessionFlags, del getter[T]) *cobra.Command {
	cmd := &cobra.Command{Use: "delete " + arg, Short: short, Long: deleteLong(short), Args: exactArgs(arg)}
	return clientCmd(env, scope, formatYAML, cmd, func(c *call, args []string) error {
		out, err := del(c.client, c.ctx(), c.org, c.env, args[0])
		if err != nil {
			return err
		}
		return c.deleted(kind, args[0], out)
	})
}

// deleteLong is the help of a delete command whose Short is short.
func deleteLong(short string) string { return short + ".\n\n" + deletedNote }

// allPages fetches a paged list from its first page to its last and returns
// the items of them all: an empty list, not nil, when there are none.
func allPages[T any](fetch func(pageToken string) (items []T, next string, err error)) ([]T, error) {
	all := []T{}
	token := ""
	for {
		items, next, err := fetch(token)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if token = next; token == "" {
			return all, nil
		}
	}
}

// bindPageSize adds --page-size; items names what a page holds.
func bindPageSize(cmd *cobra.Command, p *int, items string) {
	cmd.Flags().IntVar(p, "page-size", 0, items+" fetched per request (`N`; all pages are listed)")
}

// bindLabels adds a k=v,... flag whose default shows as nothing.
func bindLabels(cmd *cobra.Command, p *map[string]string, name, usage string) {
	cmd.Flags().StringToStringVar(p, name, nil, usage)
	cmd.Flags().Lookup(name).DefValue = ""
}
