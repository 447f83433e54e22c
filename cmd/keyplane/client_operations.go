package main

import (
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
	var wait bool
	cmd := &cobra.Command{
		Use:   "describe UUID",
		Short: "Show an operation",
		Long: "Show an operation: its state and, once done, its response or its error.\n" +
			"UUID may also be the operation's full name, as `archives deploy --async` prints it.\n" +
			"A failed operation is shown like any other: the command itself succeeds.",
		Example: "  keyplane operations describe 6b7dbb09-fa01-4cb1-8c3f-9393027b3d92 --org myorg\n" +
			"  OP=$(keyplane archives deploy --source . --async) && keyplane operations describe \"$OP\" --wait",
		Args: exactArgs("UUID"),
	}
	clientCmd(env, withOrg, formatYAML, cmd, func(c *call, args []string) error {
		fmt.Fprintf(c.cmd.ErrOrStderr(), "Using organization '%s'\n", c.org)
		op, err := c.client.GetOperation(c.ctx(), c.org, lastSegment(args[0]))
		if err != nil {
			return err
		}
		if wait {
			var opErr *operationError
			if op, err = c.waiter(nil).wait(c.ctx(), op); err != nil && !errors.As(err, &opErr) {
				return err
			}
		}
		return c.write(newOperationView(c.org, op), nil)
	})
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the operation is done, then show it")
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
}

// maxPollFailures is how many looks in a row at an operation may fail for
// reasons that pass (the server restarting, 503) before waiting gives up.
const maxPollFailures = 5

// wait returns the finished operation, or an *operationError when it
// finished with an error.
func (w *waiter) wait(ctx context.Context, op *api.Operation) (*api.Operation, error) {
	uuid := lastSegment(op.Name)
	spin := w.progress != nil && w.env.terminal(w.progress)
	if w.progress != nil {
		fmt.Fprintf(w.progress, "Waiting for operation [%s] to complete...", uuid)
	}
	finish := func(word string) {
		if w.progress != nil {
			fmt.Fprintln(w.progress, word)
		}
	}
	interval, failures := w.env.pollInterval, 0
	for tick := 0; !op.Done; tick++ {
		if spin {
			fmt.Fprintf(w.progress, "%c\b", `|/-\`[tick%4])
		}
		select {
		case <-ctx.Done():
			finish("cancelled.")
			return nil, ctx.Err()
		case <-time.After(interval):
		}
		interval = min(interval*3/2, w.env.maxPollInterval)
		next, err := w.client.GetOperation(ctx, w.org, uuid)
		if err != nil {
			if failures++; failures < maxPollFailures && passing(err) {
				continue
			}
			finish("failed.")
			return nil, err
		}
		failures, op = 0, next
	}
	if op.Error != nil {
		finish("failed.")
		return op, &operationError{op.Error}
	}
	finish("done.")
	return op, nil
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
