package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/spf13/cobra"
)

func newOperationsCmd(env clientEnv) *cobra.Command {
	cmd := newGroupCmd("operations", "Inspect long-running operations",
		"Deployments and environment changes run as long-running operations; these commands show\ntheir state and, once done, their result or error.")
	cmd.AddCommand(newOperationsDescribeCmd(env), newOperationsListCmd(env))
	return cmd
}

// operationView is an operation as `operations describe` prints it: the
// wire form plus the organization and uuid, as gcloud adds them.
type operationView struct {
	api.Operation
	Organization string `json:"organization"`
	UUID         string `json:"uuid"`
}

func newOperationView(org string, op *api.Operation) operationView {
	return operationView{Operation: *op, Organization: org, UUID: lastSegment(op.Name)}
}

func newOperationsDescribeCmd(env clientEnv) *cobra.Command {
	var (
		wait    bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "describe UUID",
		Short: "Show an operation",
		Long: "Show an operation: its state and, once done, its response or its error.\n" +
			"UUID may also be the operation's full name, as `archives deploy --async` prints it.\n" +
			"A failed operation is shown like any other: the command itself succeeds. With --wait,\n" +
			"an operation whose outcome cannot be learned within --timeout exits with code 4.",
		Example: "  keyplane operations describe 6b7dbb09-fa01-4cb1-8c3f-9393027b3d92 --org myorg\n" +
			"  OP=$(keyplane archives deploy --source . --async) && keyplane operations describe \"$OP\" --wait",
		Args: exactArgs("UUID"),
	}
	clientCmd(env, withOrg, formatYAML, cmd, func(c *call, args []string) error {
		fmt.Fprintf(c.cmd.ErrOrStderr(), "Using organization '%s'\n", c.org)
		op, err := c.client.GetOperation(c.ctx(), c.org, lastSegment(args[0]))
		if err != nil && wait && passing(err) {
			// Waiting includes waiting for the server to answer at all.
			op, err = &api.Operation{Name: "organizations/" + c.org + "/operations/" + lastSegment(args[0])}, nil
		}
		if err != nil {
			return err
		}
		if wait {
			var opErr *operationError
			if op, err = c.waiter(nil).within(timeout).wait(c.ctx(), op); err != nil && !errors.As(err, &opErr) {
				return err
			}
		}
		return c.write(newOperationView(c.org, op), nil)
	})
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the operation is done, then show it")
	bindTimeout(cmd, &timeout)
	return cmd
}

func newOperationsListCmd(env clientEnv) *cobra.Command {
	var pageSize int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List an organization's operations",
		Args:  exactArgs(),
	}
	clientCmd(env, withOrg, formatTable, cmd, func(c *call, _ []string) error {
		ops, err := allPages(func(token string) ([]api.Operation, string, error) {
			page, err := c.client.ListOperations(c.ctx(), c.org, pageSize, token)
			if err != nil {
				return nil, "", err
			}
			return page.Operations, page.NextPageToken, nil
		})
		if err != nil {
			return err
		}
		views := []operationView{}
		for i := range ops {
			views = append(views, newOperationView(c.org, &ops[i]))
		}
		t := &table{header: []string{"UUID", "TYPE", "STATE", "RESULT", "TARGET"}}
		for _, v := range views {
			t.rows = append(t.rows, []string{v.UUID, v.Metadata.OperationType, v.Metadata.State, operationResult(&v.Operation), v.Metadata.TargetResourceName})
		}
		return c.write(views, t)
	})
	bindPageSize(cmd, &pageSize, "operations")
	return cmd
}

// operationResult summarizes an operation for a table: "" while it runs,
// then OK or the error code.
func operationResult(op *api.Operation) string {
	switch {
	case !op.Done:
		return ""
	case op.Error != nil:
		return fmt.Sprintf("ERROR(%d)", op.Error.Code)
	default:
		return "OK"
	}
}

// waiter polls an operation until it is done.
type waiter struct {
	env    clientEnv
	client *api.Client
	org    string
	// progress receives the "Waiting for operation [UUID] to
	// complete...done." line; nil waits silently.
	progress io.Writer
	// timeout is how long wait keeps trying to learn the outcome through
	// failures that pass (the server or its database restarting); zero
	// means defaultWaitTimeout.
	timeout time.Duration
	// server is the --server the command was given, repeated in the
	// command that checks a pending operation; "" when not given.
	server string
}

// defaultWaitTimeout is how long a waiting command keeps trying to learn
// an operation's outcome when --timeout is not given.
const defaultWaitTimeout = 10 * time.Minute

// bindTimeout adds --timeout to a command that waits for an operation.
func bindTimeout(cmd *cobra.Command, timeout *time.Duration) {
	cmd.Flags().DurationVar(timeout, "timeout", defaultWaitTimeout,
		"how long to keep trying to learn the operation's outcome, through 503s and lost connections; past it, "+
			"the command says the operation is still pending and exits with code 4")
}

// within returns w with the given timeout.
func (w *waiter) within(timeout time.Duration) *waiter {
	w.timeout = timeout
	return w
}

// wait returns the finished operation, or an *operationError when it
// finished with an error. While the server cannot be asked (503, 429, a
// connection refused or lost) it keeps asking until its timeout; if the
// outcome is still unknown then, or waiting is interrupted, it returns a
// *pendingError: the operation goes on on the server, and saying it
// failed would invite deploying again.
func (w *waiter) wait(ctx context.Context, op *api.Operation) (*api.Operation, error) {
	uuid := lastSegment(op.Name)
	check := "keyplane operations describe " + uuid + " --org " + w.org + " --wait"
	err := w.poll(ctx, "operation ["+uuid+"]", check, op.Done, func(ctx context.Context) (bool, error) {
		next, err := w.client.GetOperation(ctx, w.org, uuid)
		if err != nil {
			return false, err
		}
		op = next
		return op.Done, nil
	}, func() error {
		if op.Error != nil {
			return &operationError{op.Error}
		}
		return nil
	})
	var opErr *operationError
	if err != nil && !errors.As(err, &opErr) {
		return nil, err
	}
	return op, err
}

// poll is the waiting that every waiting command shares: it prints
// "Waiting for {what} to complete..." to the progress writer, calls fetch
// (after a growing interval) until it reports done, and ends the line with
// "done." or, when outcome returns an error, "failed.". Failures that pass
// (see passing) are asked through until the timeout; past it, or when
// waiting is interrupted, poll ends the line with "pending." and returns a
// *pendingError whose message gives check, the command that goes on
// waiting. Any other failure of fetch ends the line with "failed." and is
// returned as it is.
func (w *waiter) poll(ctx context.Context, what, check string, done bool,
	fetch func(context.Context) (bool, error), outcome func() error) error {
	spin := w.progress != nil && w.env.terminal(w.progress)
	if w.progress != nil {
		fmt.Fprintf(w.progress, "Waiting for %s to complete...", what)
	}
	finish := func(word string) {
		if w.progress != nil {
			fmt.Fprintln(w.progress, word)
		}
	}
	timeout := cmp.Or(w.timeout, defaultWaitTimeout)
	deadline := time.Now().Add(timeout)
	check = w.command(check)
	pending := func(cause error, interrupted bool) error {
		finish("pending.")
		return &pendingError{what: what, check: check, timeout: timeout, cause: cause, interrupted: interrupted}
	}
	interval := w.env.pollInterval
	var lastErr error
	for tick := 0; !done; tick++ {
		if spin {
			fmt.Fprintf(w.progress, "%c\b", `|/-\`[tick%4])
		}
		if time.Now().After(deadline) {
			return pending(lastErr, false)
		}
		select {
		case <-ctx.Done():
			return pending(ctx.Err(), true)
		case <-time.After(min(interval, max(time.Until(deadline), 0))):
		}
		interval = min(interval*3/2, w.env.maxPollInterval)
		var err error
		done, err = fetch(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return pending(ctx.Err(), true)
			}
			if passing(err) {
				lastErr = err
				continue
			}
			finish("failed.")
			return err
		}
		lastErr = nil
	}
	if err := outcome(); err != nil {
		finish("failed.")
		return err
	}
	finish("done.")
	return nil
}

// command returns a keyplane command line with the --server the waiting
// command was given, so that it reaches the same server.
func (w *waiter) command(line string) string {
	if w.server != "" {
		line += " --server " + w.server
	}
	return line
}

// pendingError is something a waiting command waited for (an operation, a
// deployment) whose outcome it could not learn: it may still succeed or
// fail. Its exit code is exitPending.
type pendingError struct {
	what    string // "operation [UUID]", as the progress line names it
	check   string // the command that goes on waiting for it
	timeout time.Duration
	cause   error // the last failure to ask, if any
	// interrupted is set when waiting was interrupted rather than timed out.
	interrupted bool
}

func (e *pendingError) Error() string {
	why := fmt.Sprintf("its outcome could not be learned within --timeout %s", e.timeout)
	if e.interrupted {
		why = "waiting for it was interrupted"
	}
	var apiErr *api.Error
	switch {
	case e.interrupted || e.cause == nil:
	case errors.As(e.cause, &apiErr):
		// The status, not the message: a 503's "try again" is about the
		// request that polled, not about what is awaited.
		why += fmt.Sprintf(" (last answer: HTTP %d %s)", apiErr.HTTPStatus, apiErr.Status)
	default:
		why += " (last attempt: " + e.cause.Error() + ")"
	}
	return fmt.Sprintf("%s is still pending: %s. It goes on on the server; do not start it again. Check it with:\n  %s",
		e.what, why, e.check)
}

// passing reports whether an error may go away by itself.
func passing(err error) bool {
	var transport *api.TransportError
	var apiErr *api.Error
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	case errors.As(err, &transport):
		return true
	case errors.As(err, &apiErr):
		return apiErr.HTTPStatus == http.StatusServiceUnavailable || apiErr.HTTPStatus == http.StatusTooManyRequests
	}
	return false
}

// isTerminal reports whether w is a terminal, where a spinner helps; in a
// CI log it would only add noise.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
