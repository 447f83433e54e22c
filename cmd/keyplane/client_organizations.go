package main

import (
	"fmt"

	"github.com/keyplane/keyplane/api"
	"github.com/spf13/cobra"
)

func newOrganizationsCmd(env clientEnv) *cobra.Command {
	cmd := newGroupCmd("organizations", "Create and inspect organizations",
		"An organization holds environments, operations and API tokens. Only an admin can create one.")
	cmd.Aliases = []string{"orgs"}
	cmd.AddCommand(newOrganizationsCreateCmd(env), newOrganizationsListCmd(env), newOrganizationsDescribeCmd(env))
	return cmd
}

func newOrganizationsCreateCmd(env clientEnv) *cobra.Command {
	s := &session{env: env}
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create an organization",
		Example: "  keyplane organizations create myorg",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := s.outputFormat(formatYAML)
			if err != nil {
				return err
			}
			org, err := s.client().CreateOrganization(cmd.Context(), api.Organization{Name: args[0]})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Created organization [%s].\n", args[0])
			return writeResult(cmd, format, org, nil)
		},
	}
	s.bind(cmd, 0)
	return cmd
}

func newOrganizationsListCmd(env clientEnv) *cobra.Command {
	s := &session{env: env}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the organizations the token can see",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := s.outputFormat(formatTable)
			if err != nil {
				return err
			}
			names, err := s.client().ListOrganizations(cmd.Context())
			if err != nil {
				return err
			}
			return writeResult(cmd, format, names, namesTable(names))
		},
	}
	s.bind(cmd, 0)
	return cmd
}

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
