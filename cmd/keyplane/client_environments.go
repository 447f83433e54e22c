package main

import (
	"fmt"

	"github.com/keyplane/keyplane/api"
	"github.com/spf13/cobra"
)

func newEnvironmentsCmd(env clientEnv) *cobra.Command {
	cmd := newGroupCmd("environments", "Create, list, describe and delete environments",
		"An environment holds keystores, references, target servers and archive deployments.\n"+
			"In a CONFIGURABLE environment certificates and references cannot be changed once created:\n"+
			"create new ones and deploy an archive that points at them.")
	cmd.Aliases = []string{"envs"}
	cmd.AddCommand(newEnvironmentsCreateCmd(env), newEnvironmentsListCmd(env),
		newEnvironmentsDescribeCmd(env), newEnvironmentsDeleteCmd(env))
	return cmd
}

func newEnvironmentsCreateCmd(env clientEnv) *cobra.Command {
	s := &session{env: env}
	var description, proxyType, deploymentType string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an environment",
		Example: "  keyplane environments create dev --org myorg --deployment-type ARCHIVE --api-proxy-type CONFIGURABLE\n" +
			"  keyplane environments create test --description 'integration tests'",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := s.outputFormat(formatYAML)
			if err != nil {
				return err
			}
			org, err := s.orgName()
			if err != nil {
				return err
			}
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
			cl := s.client()
			op, err := cl.CreateEnvironment(cmd.Context(), org, in)
			if err != nil {
				return err
			}
			w := &waiter{env: s.env, client: cl, org: org}
			if _, err := w.wait(cmd.Context(), op); err != nil {
				return err
			}
			out, err := cl.GetEnvironment(cmd.Context(), org, in.Name)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Created environment [%s].\n", in.Name)
			return writeResult(cmd, format, out, nil)
		},
	}
	s.bind(cmd, withOrg)
	f := cmd.Flags()
	f.StringVar(&description, "description", "", "description of the environment")
	f.StringVar(&proxyType, "api-proxy-type", "", "PROGRAMMABLE or CONFIGURABLE (default: the server's, PROGRAMMABLE)")
	f.StringVar(&deploymentType, "deployment-type", "", "PROXY or ARCHIVE (default: the server's, PROXY)")
	return cmd
}

func newEnvironmentsListCmd(env clientEnv) *cobra.Command {
	s := &session{env: env}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List an organization's environments",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := s.outputFormat(formatTable)
			if err != nil {
				return err
			}
			org, err := s.orgName()
			if err != nil {
				return err
			}
			names, err := s.client().ListEnvironments(cmd.Context(), org)
			if err != nil {
				return err
			}
			return writeResult(cmd, format, names, namesTable(names))
		},
	}
	s.bind(cmd, withOrg)
	return cmd
}

func newEnvironmentsDescribeCmd(env clientEnv) *cobra.Command {
	s := &session{env: env}
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show an environment",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := s.outputFormat(formatYAML)
			if err != nil {
				return err
			}
			org, err := s.orgName()
			if err != nil {
				return err
			}
			out, err := s.client().GetEnvironment(cmd.Context(), org, args[0])
			if err != nil {
				return err
			}
			return writeResult(cmd, format, out, nil)
		},
	}
	s.bind(cmd, withOrg)
	return cmd
}

func newEnvironmentsDeleteCmd(env clientEnv) *cobra.Command {
	s := &session{env: env}
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an environment",
		Long:  "Delete an environment.\n\n" + deletedNote,
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := s.outputFormat(formatYAML); err != nil {
				return err
			}
			org, err := s.orgName()
			if err != nil {
				return err
			}
			out, err := s.client().DeleteEnvironment(cmd.Context(), org, args[0])
			if err != nil {
				return err
			}
			return s.deleted(cmd, "environment", args[0], out)
		},
	}
	s.bind(cmd, withOrg)
	return cmd
}
