package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/keyplane/keyplane/api"
)

func newApisCmd(env clientEnv) *cobra.Command {
	cmd := newGroupCmd("apis", "Import API proxy bundles and deploy their revisions",
		"An API proxy is defined by a bundle: a zip of an apiproxy/ folder (proxies/*.xml, targets/*.xml,\n"+
			"policies). Each import makes the proxy's next revision; a revision is deployed to a PROXY\n"+
			"environment, which validates every TLS setting its target endpoints use (keystores, aliases,\n"+
			"truststores, expiry) before the gateway serves it.")
	cmd.Aliases = []string{"proxies"}
	cmd.AddCommand(newApisImportCmd(env), newApisListCmd(env), newApisDescribeCmd(env), newApisDeleteCmd(env),
		newApisDeployCmd(env), newApisUndeployCmd(env), newApisDeploymentsCmd(env))
	return cmd
}

func newApisImportCmd(env clientEnv) *cobra.Command {
	var (
		name, source, bundle string
		validateOnly         bool
	)
	cmd := &cobra.Command{
		Use:   "import --name NAME (--source DIR | --bundle-file ZIP) [--validate-only]",
		Short: "Import a bundle as the next revision of an API proxy",
		Long: "Pack an apiproxy/ folder (or take a ready zip) and import it as the next revision of the\n" +
			"API proxy NAME, creating the proxy on its first import. DIR is a folder that contains\n" +
			"apiproxy/, or the apiproxy folder itself; only that folder is packed, hidden files and\n" +
			"folders left out, in a stable order with fixed times, so the same folder always gives the\n" +
			"same zip. The server checks the bundle before storing it, and names the file, line and\n" +
			"column of what it refuses. With --validate-only it only checks.\n\n" +
			"The new revision is printed on standard output; deploy it with `keyplane apis deploy`.",
		Example: "  keyplane apis import --name mtls-proxy --source examples/mtls-programmable-proxy\n" +
			"  REV=$(keyplane apis import --name mtls-proxy --bundle-file proxy.zip --format json | jq -r .revision)",
		Args: exactArgs(),
	}
	clientCmd(env, withOrg, formatYAML, cmd, func(c *call, _ []string) error {
		if name == "" {
			return usageErrorf("--name is required")
		}
		zip, err := sourceOrBundle(source, bundle, packProxy)
		if err != nil {
			return err
		}
		if validateOnly {
			out, err := c.client.ValidateApiProxy(c.ctx(), c.org, name, zip)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.cmd.ErrOrStderr(), "Bundle of API proxy [%s] is valid.\n", name)
			return c.write(out, nil)
		}
		out, err := c.client.ImportApiProxy(c.ctx(), c.org, name, zip)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.cmd.ErrOrStderr(), "Imported API proxy [%s] revision [%s].\n", name, out.Revision)
		return c.write(out, nil)
	})
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "`NAME` of the API proxy (required)")
	f.StringVar(&source, "source", "", "folder to pack: a `DIR` that contains apiproxy/, or an apiproxy folder")
	f.StringVar(&bundle, "bundle-file", "", "`ZIP` file to import as is, instead of packing --source")
	f.BoolVar(&validateOnly, "validate-only", false, "check the bundle without storing it")
	// --bundle, as the zip is called in Apigee's own tools, is --bundle-file.
	f.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "bundle" {
			name = "bundle-file"
		}
		return pflag.NormalizedName(name)
	})
	return cmd
}

func newApisListCmd(env clientEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List an organization's API proxies and their revisions",
		Args:  exactArgs(),
	}
	return clientCmd(env, withOrg, formatTable, cmd, func(c *call, _ []string) error {
		list, err := c.client.ListApiProxies(c.ctx(), c.org)
		if err != nil {
			return err
		}
		proxies := list.Proxies
		if proxies == nil {
			proxies = []api.ApiProxy{}
		}
		t := &table{header: []string{"NAME", "REVISIONS"}}
		for _, p := range proxies {
			t.rows = append(t.rows, []string{p.Name, strings.Join(p.Revision, ",")})
		}
		return c.write(proxies, t)
	})
}

// bindRevision adds --rev; usage says what a missing --rev means.
func bindRevision(cmd *cobra.Command, rev *int, usage string) {
	cmd.Flags().IntVar(rev, "rev", 0, "revision `N` of the API proxy; "+usage)
}

// checkRevision refuses a --rev that no revision can have.
func checkRevision(cmd *cobra.Command, rev int) error {
	if cmd.Flags().Changed("rev") && rev < 1 {
		return usageErrorf("invalid --rev %d: revisions are numbered from 1", rev)
	}
	return nil
}

func newApisDescribeCmd(env clientEnv) *cobra.Command {
	var rev int
	cmd := &cobra.Command{
		Use:   "describe NAME [--rev N]",
		Short: "Show an API proxy, or one of its revisions",
		Args:  exactArgs("NAME"),
	}
	clientCmd(env, withOrg, formatYAML, cmd, func(c *call, args []string) error {
		if err := checkRevision(c.cmd, rev); err != nil {
			return err
		}
		var (
			out any
			err error
		)
		if rev == 0 {
			out, err = c.client.GetApiProxy(c.ctx(), c.org, args[0])
		} else {
			out, err = c.client.GetApiProxyRevision(c.ctx(), c.org, args[0], rev)
		}
		if err != nil {
			return err
		}
		return c.write(out, nil)
	})
	bindRevision(cmd, &rev, "without it, the proxy and the list of its revisions")
	return cmd
}

func newApisDeleteCmd(env clientEnv) *cobra.Command {
	var rev int
	cmd := &cobra.Command{
		Use:   "delete NAME [--rev N]",
		Short: "Delete an API proxy, or one of its revisions",
		Long: deleteLong("Delete an API proxy with all its revisions, or with --rev one revision. A deployed\n" +
			"revision cannot be deleted: undeploy it first"),
		Args: exactArgs("NAME"),
	}
	clientCmd(env, withOrg, formatYAML, cmd, func(c *call, args []string) error {
		if err := checkRevision(c.cmd, rev); err != nil {
			return err
		}
		if rev == 0 {
			out, err := c.client.DeleteApiProxy(c.ctx(), c.org, args[0])
			if err != nil {
				return err
			}
			return c.deleted("API proxy", args[0], out)
		}
		out, err := c.client.DeleteApiProxyRevision(c.ctx(), c.org, args[0], rev)
		if err != nil {
			return err
		}
		return c.deleted("API proxy revision", args[0]+" revision "+strconv.Itoa(rev), out)
	})
	bindRevision(cmd, &rev, "without it, the whole proxy")
	return cmd
}

func newApisDeployCmd(env clientEnv) *cobra.Command {
	var (
		rev                        int
		override, sequencedRollout bool
		async                      bool
		timeout                    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "deploy NAME [--rev N] [--override] [--async]",
		Short: "Deploy a revision of an API proxy and wait until it is ready",
		Long: "Deploy a revision of an API proxy (by default its latest) to a PROXY environment, and wait\n" +
			"while the server validates every TLS setting the revision uses:\n\n" +
			"  Waiting for deployment of [NAME] revision [N] to environment [ENV] to complete...done.\n\n" +
			"If the deployment ends in state ERROR, its errors are printed on standard error and the\n" +
			"exit code is 1. A base path another proxy of the environment serves is refused, naming\n" +
			"both, unless --override is given: then that proxy is undeployed, as is another revision of\n" +
			"this proxy.\n\n" +
			"While the server or its database is away (503, connections refused or lost), waiting\n" +
			"goes on until --timeout (default 10m). If the outcome still cannot be learned, the\n" +
			"command says the deployment is still pending, prints the command that checks it, and\n" +
			"exits with code 4: the deployment may yet succeed, so do not deploy again.\n\n" +
			"With --async the command returns at once, saying which command follows the deployment.\n" +
			"With --format, the deployment is printed on standard output in that format.",
		Example: "  keyplane apis deploy mtls-proxy --env prod --rev 3\n" +
			"  keyplane apis deploy mtls-proxy --override --timeout 2m",
		Args: exactArgs("NAME"),
	}
	clientCmd(env, withOrg|withEnv, formatYAML, cmd, func(c *call, args []string) error {
		if err := checkRevision(c.cmd, rev); err != nil {
			return err
		}
		name, ctx := args[0], c.ctx()
		if rev == 0 {
			p, err := c.client.GetApiProxy(ctx, c.org, name)
			if err != nil {
				return err
			}
			if rev, err = strconv.Atoi(p.LatestRevisionID); err != nil {
				return fmt.Errorf("API proxy %q has no revision to deploy", name)
			}
		}
		d, err := c.client.DeployApiProxy(ctx, c.org, c.env, name, rev, api.DeployOptions{Override: override, SequencedRollout: sequencedRollout})
		if err != nil {
			return err
		}
		if async {
			fmt.Fprintf(c.cmd.ErrOrStderr(), "Deploying API proxy [%s] revision [%d] to environment [%s]. Follow it with:\n  %s\n",
				name, rev, c.env, c.waiter(nil).command(c.deploymentCheck(name, rev)))
		} else if d, err = c.waitDeployment(c.cmd.ErrOrStderr(), timeout, d, name, rev); err != nil {
			return err
		}
		if c.formatGiven() {
			return c.write(d, nil)
		}
		return nil
	})
	bindRevision(cmd, &rev, "without it, the latest")
	f := cmd.Flags()
	f.BoolVar(&override, "override", false, "replace what serves the revision's base paths, and another deployed revision of the proxy")
	f.BoolVar(&sequencedRollout, "sequenced-rollout", false, "accepted as Apigee accepts it; keyplane's gateways switch routes at once")
	f.BoolVar(&async, "async", false, "return without waiting for the deployment to be ready")
	bindTimeout(cmd, &timeout)
	return cmd
}

// waitDeployment waits, through waiter.poll, until deployment d of revision
// rev of the API proxy name is READY or ERROR. It returns the last
// deployment seen, with a *deploymentError when it ended in ERROR; progress
// as in waiter.
func (c *call) waitDeployment(progress io.Writer, timeout time.Duration,
	d *api.Deployment, name string, rev int) (*api.Deployment, error) {
	w := c.waiter(progress).within(timeout)
	what := fmt.Sprintf("deployment of [%s] revision [%d] to environment [%s]", name, rev, c.env)
	err := w.poll(c.ctx(), what, c.deploymentCheck(name, rev), deploymentDone(d), func(ctx context.Context) (bool, error) {
		next, err := c.client.GetApiProxyDeployment(ctx, c.org, c.env, name, rev)
		if err != nil {
			return false, err
		}
		d = next
		return deploymentDone(d), nil
	}, func() error {
		if d.State == api.DeploymentStateError {
			return &deploymentError{d}
		}
		return nil
	})
	var failed *deploymentError
	if err != nil && !errors.As(err, &failed) {
		return nil, err
	}
	return d, err
}

// deploymentCheck is the command that waits for the deployment of
// revision rev of the API proxy name in the call's environment.
func (c *call) deploymentCheck(name string, rev int) string {
	return fmt.Sprintf("keyplane apis deployments describe %s --rev %d --env %s --org %s --wait", name, rev, c.env, c.org)
}

// deploymentDone reports whether a deployment has reached a state it
// stays in: READY or ERROR.
func deploymentDone(d *api.Deployment) bool {
	return d.State == api.DeploymentStateReady || d.State == api.DeploymentStateError
}

// deploymentError is a deployment that ended in state ERROR. Its message
// is the deployment's errors, word for word, one a line.
type deploymentError struct{ d *api.Deployment }

func (e *deploymentError) Error() string {
	var msgs []string
	for _, s := range e.d.Errors {
		msgs = append(msgs, s.Message)
	}
	if len(msgs) == 0 {
		return fmt.Sprintf("deployment of API proxy %q revision %s to environment %q failed", e.d.APIProxy, e.d.Revision, e.d.Environment)
	}
	return strings.Join(msgs, "\n")
}

// deployedRevision returns rev, the --rev of a command whose --rev is
// optional, or when it was not given the revision of the API proxy name
// deployed to the call's environment.
func (c *call) deployedRevision(name string, rev int) (int, error) {
	if err := checkRevision(c.cmd, rev); err != nil || rev != 0 {
		return rev, err
	}
	list, err := c.client.ListEnvironmentDeployments(c.ctx(), c.org, c.env)
	if err != nil {
		return 0, err
	}
	for _, d := range list.Deployments {
		if d.APIProxy == name {
			return strconv.Atoi(d.Revision)
		}
	}
	return 0, fmt.Errorf("API proxy %q is not deployed to environment %q", name, c.env)
}

func newApisUndeployCmd(env clientEnv) *cobra.Command {
	var rev int
	cmd := &cobra.Command{
		Use:   "undeploy NAME [--rev N]",
		Short: "Undeploy an API proxy from an environment",
		Long: "Undeploy the API proxy NAME from the environment: the revision given with --rev, by default\n" +
			"the one deployed there. The gateway stops serving it.",
		Example: "  keyplane apis undeploy mtls-proxy --env dev",
		Args:    exactArgs("NAME"),
	}
	clientCmd(env, withOrg|withEnv, formatYAML, cmd, func(c *call, args []string) error {
		name := args[0]
		rev, err := c.deployedRevision(name, rev)
		if err != nil {
			return err
		}
		if err := c.client.UndeployApiProxy(c.ctx(), c.org, c.env, name, rev); err != nil {
			return err
		}
		fmt.Fprintf(c.cmd.ErrOrStderr(), "Undeployed API proxy [%s] revision [%d] from environment [%s].\n", name, rev, c.env)
		return nil
	})
	bindRevision(cmd, &rev, "without it, the one deployed to the environment")
	return cmd
}

func newApisDeploymentsCmd(env clientEnv) *cobra.Command {
	cmd := newGroupCmd("deployments", "List and inspect API proxy deployments",
		"A deployment is a revision of an API proxy in an environment: PROGRESSING while the server\nvalidates it, then READY or ERROR.")
	cmd.AddCommand(newApisDeploymentsListCmd(env), newApisDeploymentsDescribeCmd(env))
	return cmd
}

// deploymentsTable is the table form of deployments.
func deploymentsTable(deployments []api.Deployment) *table {
	t := &table{header: []string{"API", "REVISION", "ENVIRONMENT", "STATE", "BASE PATH", "DEPLOYED"}}
	for _, d := range deployments {
		t.rows = append(t.rows, []string{d.APIProxy, d.Revision, d.Environment, d.State, d.BasePath, formatMillis(d.DeployStartTime)})
	}
	return t
}

func newApisDeploymentsListCmd(env clientEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List an environment's API proxy deployments",
		Args:  exactArgs(),
	}
	return clientCmd(env, withOrg|withEnv, formatTable, cmd, func(c *call, _ []string) error {
		list, err := c.client.ListEnvironmentDeployments(c.ctx(), c.org, c.env)
		if err != nil {
			return err
		}
		deployments := list.Deployments
		if deployments == nil {
			deployments = []api.Deployment{}
		}
		return c.write(deployments, deploymentsTable(deployments))
	})
}

func newApisDeploymentsDescribeCmd(env clientEnv) *cobra.Command {
	var (
		rev     int
		wait    bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "describe NAME [--rev N] [--wait]",
		Short: "Show the deployment of an API proxy in an environment",
		Long: "Show the deployment of an API proxy in an environment: its state and, in state ERROR, its\n" +
			"errors. A deployment in state ERROR is shown like any other: the command itself succeeds.\n" +
			"With --wait, it first waits until the deployment is READY or ERROR; one whose outcome\n" +
			"cannot be learned within --timeout exits with code 4.",
		Example: "  keyplane apis deployments describe mtls-proxy --rev 2 --env dev --wait",
		Args:    exactArgs("NAME"),
	}
	clientCmd(env, withOrg|withEnv, formatYAML, cmd, func(c *call, args []string) error {
		name := args[0]
		rev, err := c.deployedRevision(name, rev)
		if err != nil {
			return err
		}
		d, err := c.client.GetApiProxyDeployment(c.ctx(), c.org, c.env, name, rev)
		if err != nil && wait && passing(err) {
			// Waiting includes waiting for the server to answer at all.
			d, err = &api.Deployment{}, nil
		}
		if err != nil {
			return err
		}
		if wait {
			var failed *deploymentError
			if d, err = c.waitDeployment(nil, timeout, d, name, rev); err != nil && !errors.As(err, &failed) {
				return err
			}
		}
		return c.write(d, nil)
	})
	bindRevision(cmd, &rev, "without it, the one deployed to the environment")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until the deployment is READY or ERROR, then show it")
	bindTimeout(cmd, &timeout)
	return cmd
}
