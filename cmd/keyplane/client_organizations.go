package main

import (
	"context"
	"fmt"

	"github.com/keyplane/keyplane/api"
	"github.com/spf13/cobra"
)

func newOrganizationsCmd(env clientEnv) *cobra.Command {
	cmd := newGroupCmd("organizations", "Create and inspect organizations",
		"An organization holds environments, operations and API tokens. Only an admin can create one.")
	cmd.Aliases = []string{"orgs"}
	cmd.AddCommand(newOrganizationsCreateCmd(env),
		listCmd(env, "list", "List the organizations the token can see", 0,
			func(cl *api.Client, ctx context.Context, _, _ string) ([]string, error) {
				return cl.ListOrganizations(ctx)
			}),
		newOrganizationsDescribeCmd(env))
	return cmd
}

func newOrganizationsCreateCmd(env clientEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create an organization",
		Example: "  keyplane organizations create myorg",
		Args:    exactArgs("NAME"),
	}
	return clientCmd(env, 0, formatYAML, cmd, func(c *call, args []string) error {
		org, err := c.client.CreateOrganization(c.ctx(), api.Organization{Name: args[0]})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.cmd.ErrOrStderr(), "Created organization [%s].\n", args[0])
		return c.write(org, nil)
	})
}

// newOrganizationsDescribeCmd takes --org but needs it only without NAME, so
// it finds the organization itself rather than through session.run.
func newOrganizationsDescribeCmd(env clientEnv) *cobra.Command {
	s := &session{env: env}
	cmd := &cobra.Command{
		Use:   "describe [NAME]",
		Short: "Show an organization",
		Long:  "Show an organization: NAME, else --org, else $KEYPLANE_ORG.",
		Args:  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := s.outputFormat(formatYAML)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			} else if name, err = s.orgName(); err != nil {
				return err
			}
			org, err := s.client().GetOrganization(cmd.Context(), name)
			if err != nil {
				return err
			}
			return writeResult(cmd, format, org, nil)
		},
	}
	s.bind(cmd, withOrg)
	return cmd
}
