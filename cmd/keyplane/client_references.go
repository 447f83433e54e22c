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
	cmd.AddCommand(newReferencesCreateCmd(env),
		listCmd(env, "list", "List an environment's references", withOrg|withEnv, (*api.Client).ListReferences),
		describeCmd(env, "NAME", "Show a reference", withOrg|withEnv, (*api.Client).GetReference),
		newReferencesUpdateCmd(env),
		deleteCmd(env, "NAME", "Delete a reference", "reference", withOrg|withEnv, (*api.Client).DeleteReference))
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
	var flags referenceFlags
	cmd := &cobra.Command{
		Use:   "create NAME --refers KEYSTORE [--resource-type KeyStore|TrustStore]",
		Short: "Create a reference to a keystore or truststore",
		Example: "  keyplane references create gateway-keystore-ref --refers gateway-keystore --resource-type KeyStore\n" +
			"  keyplane references create backend-truststore-ref --refers backend-truststore --resource-type TrustStore",
		Args: exactArgs("NAME"),
	}
	clientCmd(env, withOrg|withEnv, formatYAML, cmd, func(c *call, args []string) error {
		if flags.refers == "" {
			return usageErrorf("--refers is required")
		}
		ref := api.Reference{Name: args[0], ResourceType: api.ResourceTypeKeyStore}
		if err := flags.apply(c.cmd, &ref); err != nil {
			return err
		}
		out, err := c.client.CreateReference(c.ctx(), c.org, c.env, ref)
		if err != nil {
			return err
		}
		return c.write(out, nil)
	})
	flags.bind(cmd, " (default KeyStore)")
	cmd.Flags().Lookup("refers").Usage = "name of the `KEYSTORE` the reference points at (required)"
	return cmd
}

func newReferencesUpdateCmd(env clientEnv) *cobra.Command {
	var flags referenceFlags
	cmd := &cobra.Command{
		Use:   "update NAME [--refers KEYSTORE] [--resource-type T] [--description D]",
		Short: "Point a reference at another keystore",
		Long: "Change a reference; fields whose flags are not given keep their value.\n" +
			"CONFIGURABLE environments refuse this: create a new reference and deploy an archive that uses it.",
		Example: "  keyplane references update gateway-keystore-ref --refers gateway-keystore-2026",
		Args:    exactArgs("NAME"),
	}
	clientCmd(env, withOrg|withEnv, formatYAML, cmd, func(c *call, args []string) error {
		f := c.cmd.Flags()
		if !f.Changed("refers") && !f.Changed("resource-type") && !f.Changed("description") {
			return usageErrorf("nothing to update: give --refers, --resource-type or --description")
		}
		ref, err := c.client.GetReference(c.ctx(), c.org, c.env, args[0])
		if err != nil {
			return err
		}
		if err := flags.apply(c.cmd, ref); err != nil {
			return err
		}
		ref.Name = args[0]
		out, err := c.client.UpdateReference(c.ctx(), c.org, c.env, *ref)
		if err != nil {
			return err
		}
		return c.write(out, nil)
	})
	flags.bind(cmd, "")
	return cmd
}
