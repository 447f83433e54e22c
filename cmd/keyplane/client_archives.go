package main

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/spf13/cobra"
)

func newArchivesCmd(env clientEnv) *cobra.Command {
	cmd := newGroupCmd("archives", "Deploy archives and manage archive deployments",
		"An archive is a zip of a source folder's src/main/apigee tree: proxies, the environment's\n"+
			"deployments.json and targetservers.json. Deploying one validates every TLS setting it\n"+
			"uses (keystores, aliases, truststores, expiry) in a long-running operation.")
	cmd.AddCommand(newArchivesDeployCmd(env), newArchivesListCmd(env),
		describeCmd(env, "ID", "Show an archive deployment", withOrg|withEnv,
			func(cl *api.Client, ctx context.Context, org, env, id string) (*api.ArchiveDeployment, error) {
				return cl.GetArchiveDeployment(ctx, org, env, lastSegment(id))
			}),
		newArchivesUpdateCmd(env), newArchivesDeleteCmd(env))
	return cmd
}

func newArchivesDeployCmd(env clientEnv) *cobra.Command {
	var (
		source, bundle string
		labels         map[string]string
		async          bool
		timeout        time.Duration
	)
	cmd := &cobra.Command{
		Use:   "deploy (--source DIR | --bundle-file ZIP) [--labels k=v,...] [--async]",
		Short: "Deploy an archive and wait for its validation",
		Long: "Pack a source folder (or take a ready zip), upload it, create an archive deployment and\n" +
			"wait for the operation that validates it:\n\n" +
			"  Waiting for operation [UUID] to complete...done.\n\n" +
			"The folder must contain src/main/apigee; only that tree is packed, hidden files and\n" +
			"folders (.git and the like) left out, in a stable order with fixed times, so the same\n" +
			"folder always gives the same zip. If the operation fails, its error message is printed\n" +
			"on standard error and the exit code is 1.\n\n" +
			"While the server or its database is away (503, connections refused or lost), waiting\n" +
			"goes on until --timeout (default 10m). If the outcome still cannot be learned, the\n" +
			"command says the operation is still pending, prints the command that checks it, and\n" +
			"exits with code 4: the deployment may yet succeed, so do not deploy again.\n\n" +
			"With --async the command prints the operation's name on standard output and returns at\n" +
			"once; follow it with `keyplane operations describe`. With --format, the deployment (or\n" +
			"with --async the operation) is printed on standard output in that format.",
		Example: "  keyplane archives deploy --org myorg --env dev --source . --labels commit=$GIT_COMMIT\n" +
			"  OP=$(keyplane archives deploy --source . --async) && keyplane operations describe \"$OP\"",
		Args: exactArgs(),
	}
	clientCmd(env, withOrg|withEnv, formatYAML, cmd, func(c *call, _ []string) error {
		zip, err := sourceOrBundle(source, bundle, packArchive)
		if err != nil {
			return err
		}
		cl, ctx := c.client, c.ctx()
		uploadURI, err := cl.GenerateUploadURL(ctx, c.org, c.env)
		if err != nil {
			return err
		}
		if err := cl.UploadArchive(ctx, uploadURI, bytes.NewReader(zip)); err != nil {
			return err
		}
		op, err := cl.CreateArchiveDeployment(ctx, c.org, c.env, uploadURI, labels)
		if err != nil {
			return err
		}
		if async {
			if c.formatGiven() {
				return c.write(newOperationView(c.org, op), nil)
			}
			_, err := fmt.Fprintln(c.cmd.OutOrStdout(), op.Name)
			return err
		}
		op, err = c.waiter(c.cmd.ErrOrStderr()).within(timeout).wait(ctx, op)
		if err != nil || !c.formatGiven() {
			return err
		}
		var deployment any = op.Response
		if len(op.Response) == 0 {
			deployment = struct{}{}
		}
		return c.write(deployment, nil)
	})
	f := cmd.Flags()
	f.StringVar(&source, "source", "", "folder to pack: a `DIR` that contains src/main/apigee")
	f.StringVar(&bundle, "bundle-file", "", "`ZIP` file to deploy as is, instead of packing --source")
	bindLabels(cmd, &labels, "labels", "labels of the deployment, as `k=v,...`")
	f.BoolVar(&async, "async", false, "print the operation's name and return without waiting")
	bindTimeout(cmd, &timeout)
	return cmd
}

// archiveTable is the table form of archive deployments.
func archiveTable(deployments []api.ArchiveDeployment) *table {
	t := &table{header: []string{"ID", "CREATED", "OPERATION", "LABELS"}}
	for _, d := range deployments {
		t.rows = append(t.rows, []string{lastSegment(d.Name), formatMillis(d.CreatedAt), lastSegment(d.Operation), formatLabels(d.Labels)})
	}
	return t
}

func newArchivesListCmd(env clientEnv) *cobra.Command {
	var pageSize int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List an environment's archive deployments",
		Args:  exactArgs(),
	}
	clientCmd(env, withOrg|withEnv, formatTable, cmd, func(c *call, _ []string) error {
		all, err := allPages(func(token string) ([]api.ArchiveDeployment, string, error) {
			page, err := c.client.ListArchiveDeployments(c.ctx(), c.org, c.env, pageSize, token)
			if err != nil {
				return nil, "", err
			}
			return page.ArchiveDeployments, page.NextPageToken, nil
		})
		if err != nil {
			return err
		}
		return c.write(all, archiveTable(all))
	})
	bindPageSize(cmd, &pageSize, "deployments")
	return cmd
}

func newArchivesUpdateCmd(env clientEnv) *cobra.Command {
	var (
		update   map[string]string
		remove   []string
		clearAll bool
	)
	cmd := &cobra.Command{
		Use:   "update ID [--update-labels k=v,...] [--remove-labels k,...] [--clear-labels]",
		Short: "Change the labels of an archive deployment",
		Long: "Change the labels of an archive deployment. --clear-labels and --remove-labels apply\n" +
			"first, then --update-labels adds or replaces labels.",
		Example: "  keyplane archives update afjq46noszlmmgt3uh --update-labels release=2026-11 --remove-labels candidate",
		Args:    exactArgs("ID"),
	}
	clientCmd(env, withOrg|withEnv, formatYAML, cmd, func(c *call, args []string) error {
		if len(update) == 0 && len(remove) == 0 && !clearAll {
			return usageErrorf("nothing to update: give --update-labels, --remove-labels or --clear-labels")
		}
		id := lastSegment(args[0])
		current, err := c.client.GetArchiveDeployment(c.ctx(), c.org, c.env, id)
		if err != nil {
			return err
		}
		labels := map[string]string{}
		if !clearAll {
			for k, v := range current.Labels {
				labels[k] = v
			}
		}
		for _, k := range remove {
			delete(labels, k)
		}
		for k, v := range update {
			labels[k] = v
		}
		out, err := c.client.UpdateArchiveDeploymentLabels(c.ctx(), c.org, c.env, id, labels)
		if err != nil {
			return err
		}
		return c.write(out, nil)
	})
	bindLabels(cmd, &update, "update-labels", "labels to add or replace, as `k=v,...`")
	f := cmd.Flags()
	f.StringSliceVar(&remove, "remove-labels", nil, "keys of labels to remove, as `k,...`")
	f.BoolVar(&clearAll, "clear-labels", false, "remove every label")
	return cmd
}

// newArchivesDeleteCmd is not a deleteCmd: it finds the organization and
// environment before it checks --format, and reports the deployment by ID.
func newArchivesDeleteCmd(env clientEnv) *cobra.Command {
	s := &session{env: env}
	cmd := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an archive deployment",
		Long:  deleteLong("Delete an archive deployment"),
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			org, env, err := s.where()
			if err != nil {
				return err
			}
			if _, err := s.outputFormat(formatYAML); err != nil {
				return err
			}
			id := lastSegment(args[0])
			out, err := s.client().DeleteArchiveDeployment(cmd.Context(), org, env, id)
			if err != nil {
				return err
			}
			return s.deleted(cmd, "archive deployment", id, out)
		},
	}
	s.bind(cmd, withOrg|withEnv)
	return cmd
}
