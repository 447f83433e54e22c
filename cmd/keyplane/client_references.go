package main

import (
	"github.com/keyplane/keyplane/api"
	"github.com/spf13/cobra"
)

func newReferencesCmd(env clientEnv) *cobra.Command {
	cmd := newGroupCmd("references", "Create, list, describe, update and delete references to keystores",
		"A reference is a stable name for a keystore or truststore: target servers name\n"+
			"ref://REFERENCE instead of the keystore, so that a certificate can be rotated by pointing\n"+
			"the reference at a new keystore. In a CONFIGURABLE environment references cannot be\n"+
			"updated: create a new one and deploy an archive that uses it.")
	cmd.Aliases = []string{"refs"}
	cmd.AddCommand(newReferencesCreateCmd(env), newReferencesListCmd(env), newReferencesDescribeCmd(env),
		newReferencesUpdateCmd(env), newReferencesDeleteCmd(env))
	return cmd
}

// referenceFlags are the fields of a reference that create and update set.
type referenceFlags struct {
	refers, resourceType, description string
}

func (r *referenceFlags) bind(cmd *cobra.Command, verb string) {
	f := cmd.Flags()
	f.StringVar(&r.refers, "refers", "", "name of the `KEYSTORE` the reference points at"+verb)
	f.StringVar(&r.resourceType, "resource-type", "", "`TYPE`: KeyStore or TrustStore"+verb)
	f.StringVar(&r.description, "description", "", "description of the reference")
}

// apply copies the flags that were given onto ref.
func (r *referenceFlags) apply(cmd *cobra.Command, ref *api.Reference) error {
	f := cmd.Flags()
	if f.Changed("refers") {
		ref.Refers = r.refers
	}
	if f.Changed("resource-type") {
		t, err := oneOf("resource-type", r.resourceType, api.ResourceTypeKeyStore, api.ResourceTypeTrustStore)
		if err != nil {
			return err
		}
		ref.ResourceType = t
	}
	if f.Changed("description") {
		ref.Description = r.description
	}
	return nil
}

func newReferencesCreateCmd(env clientEnv) *cobra.Command {
	s := &session{env: env}
	var flags referenceFlags
	cmd := &cobra.Command{
		Use:   "create NAME --refers KEYSTORE [--resource-type KeyStore|TrustStore]",
		Short: "Create a reference to a keystore or truststore",
		Example: "  keyplane references create gateway-keystore-ref --refers gateway-keystore --resource-type KeyStore\n" +
			"  keyplane references create backend-truststore-ref --refers backend-truststore --resource-type TrustStore",
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := s.outputFormat(formatYAML)
			if err != nil {
				return err
			}
			org, env, err := s.orgEnv()
			if err != nil {
				return err
			}
			if flags.refers == "" {
				return usageErrorf("--refers is required")
			}
			ref := api.Reference{Name: args[0], ResourceType: api.ResourceTypeKeyStore}
			if err := flags.apply(cmd, &ref); err != nil {
				return err
			}
			out, err := s.client().CreateReference(cmd.Context(), org, env, ref)
			if err != nil {
				return err
			}
			return writeResult(cmd, format, out, nil)
		},
	}
	s.bind(cmd, withOrg|withEnv)
	flags.bind(cmd, " (default KeyStore)")
	cmd.Flags().Lookup("refers").Usage = "name of the `KEYSTORE` the reference points at (required)"
	return cmd
}

func newReferencesListCmd(env clientEnv) *cobra.Command {
	s := &session{env: env}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List an environment's references",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := s.outputFormat(formatTable)
			if err != nil {
				return err
			}
			org, env, err := s.orgEnv()
			if err != nil {
				return err
			}
			names, err := s.client().ListReferences(cmd.Context(), org, env)
			if err != nil {
				return err
			}
			return writeResult(cmd, format, names, namesTable(names))
		},
	}
	s.bind(cmd, withOrg|withEnv)
	return cmd
}

func newReferencesDescribeCmd(env clientEnv) *cobra.Command {
	s := &session{env: env}
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a reference",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := s.outputFormat(formatYAML)
			if err != nil {
				return err
			}
			org, env, err := s.orgEnv()
			if err != nil {
				return err
			}
			out, err := s.client().GetReference(cmd.Context(), org, env, args[0])
			if err != nil {
				return err
			}
			return writeResult(cmd, format, out, nil)
		},
	}
	s.bind(cmd, withOrg|withEnv)
	return cmd
}

func newReferencesUpdateCmd(env clientEnv) *cobra.Command {
	s := &session{env: env}
	var flags referenceFlags
	cmd := &cobra.Command{
		Use:   "update NAME [--refers KEYSTORE] [--resource-type T] [--description D]",
		Short: "Point a reference at another keystore",
		Long: "Change a reference; fields whose flags are not given keep their value.\n" +
			"CONFIGURABLE environments refuse this: create a new reference and deploy an archive that uses it.",
		Example: "  keyplane references update gateway-keystore-ref --refers gateway-keystore-2026",
		Args:    exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := s.outputFormat(formatYAML)
			if err != nil {
				return err
			}
			org, env, err := s.orgEnv()
			if err != nil {
				return err
			}
			f := cmd.Flags()
			if !f.Changed("refers") && !f.Changed("resource-type") && !f.Changed("description") {
				return usageErrorf("nothing to update: give --refers, --resource-type or --description")
			}
			cl := s.client()
			ref, err := cl.GetReference(cmd.Context(), org, env, args[0])
			if err != nil {
				return err
			}
			if err := flags.apply(cmd, ref); err != nil {
				return err
			}
			ref.Name = args[0]
			out, err := cl.UpdateReference(cmd.Context(), org, env, *ref)
			if err != nil {
				return err
			}
			return writeResult(cmd, format, out, nil)
		},
	}
	s.bind(cmd, withOrg|withEnv)
	flags.bind(cmd, "")
	return cmd
}

func newReferencesDeleteCmd(env clientEnv) *cobra.Command {
	s := &session{env: env}
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a reference",
		Long:  "Delete a reference.\n\n" + deletedNote,
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := s.outputFormat(formatYAML); err != nil {
				return err
			}
			org, env, err := s.orgEnv()
			if err != nil {
				return err
			}
			out, err := s.client().DeleteReference(cmd.Context(), org, env, args[0])
			if err != nil {
				return err
			}
			return s.deleted(cmd, "reference", args[0], out)
		},
	}
	s.bind(cmd, withOrg|withEnv)
	return cmd
}
