package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/spf13/cobra"
)

func newEnvironmentsCmd(env clientEnv) *cobra.Command {
	cmd := newGroupCmd("environments", "Create, list, describe and delete environments",
		"An environment holds keystores, references, target servers and archive deployments.\n"+
			"In a CONFIGURABLE environment certificates and references cannot be changed once created:\n"+
			"create new ones and deploy an archive that points at them.")
	cmd.Aliases = []string{"envs"}
	cmd.AddCommand(newEnvironmentsCreateCmd(env),
		listCmd(env, "list", "List an organization's environments", withOrg,
			func(cl *api.Client, ctx context.Context, org, _ string) ([]string, error) {
				return cl.ListEnvironments(ctx, org)
			}),
		describeCmd(env, "NAME", "Show an environment", withOrg,
			func(cl *api.Client, ctx context.Context, org, _, name string) (*api.Environment, error) {
				return cl.GetEnvironment(ctx, org, name)
			}),
		deleteCmd(env, "NAME", "Delete an environment", "environment", withOrg,
			func(cl *api.Client, ctx context.Context, org, _, name string) (json.RawMessage, error) {
				return cl.DeleteEnvironment(ctx, org, name)
			}))
	return cmd
}

func newEnvironmentsCreateCmd(env clientEnv) *cobra.Command {
	var description, proxyType, deploymentType string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an environment",
		Example: "  keyplane environments create dev --org myorg --deployment-type ARCHIVE --api-proxy-type CONFIGURABLE\n" +
			"  keyplane environments create test --description 'integration tests'",
		Args: exactArgs("NAME"),
	}
	clientCmd(env, withOrg, formatYAML, cmd, func(c *call, args []string) error {
		var err error
		in := api.Environment{Name: args[0], Description: description}
		if proxyType != "" {
			if in.APIProxyType, err = oneOf("api-proxy-type", proxyType, api.ProxyTypeProgrammable, api.ProxyTypeConfigurable); err != nil {
				return err
			}
		}
		if deploymentType != "" {
			if in.DeploymentType, err = oneOf("deployment-type", deploymentType, api.DeploymentTypeProxy, api.DeploymentTypeArchive); err != nil {
				return err
			}
		}
		op, err := c.client.CreateEnvironment(c.ctx(), c.org, in)
		if err != nil {
			return err
		}
		if _, err := c.waiter(nil).within(timeout).wait(c.ctx(), op); err != nil {
			return err
		}
		out, err := c.client.GetEnvironment(c.ctx(), c.org, in.Name)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.cmd.ErrOrStderr(), "Created environment [%s].\n", in.Name)
		return c.write(out, nil)
	})
	f := cmd.Flags()
	f.StringVar(&description, "description", "", "description of the environment")
	f.StringVar(&proxyType, "api-proxy-type", "", "PROGRAMMABLE or CONFIGURABLE (default: the server's, PROGRAMMABLE)")
	f.StringVar(&deploymentType, "deployment-type", "", "PROXY or ARCHIVE (default: the server's, PROXY)")
	bindTimeout(cmd, &timeout)
	return cmd
}
