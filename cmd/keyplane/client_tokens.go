package main

import (
	"fmt"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/spf13/cobra"
)

func newTokensCmd(env clientEnv) *cobra.Command {
	cmd := newGroupCmd("tokens", "Create, list and revoke API tokens of an organization",
		"A token authenticates callers of an organization with a role: admin (everything),\n"+
			"deployer (keystores, references and deployments) or viewer (read only). The client\n"+
			"commands send the token in $KEYPLANE_TOKEN.")
	cmd.AddCommand(newTokensCreateCmd(env), newTokensListCmd(env), newTokensRevokeCmd(env))
	return cmd
}

func newTokensCreateCmd(env clientEnv) *cobra.Command {
	var (
		role       string
		expiresIn  time.Duration
		expireTime string
	)
	cmd := &cobra.Command{
		Use:   "create --role admin|deployer|viewer [--expires-in DURATION | --expire-time TIME]",
		Short: "Create a token; its secret is shown only this once",
		Example: "  keyplane tokens create --org myorg --role deployer --expires-in 720h --format json | jq -r .token\n" +
			"  keyplane tokens create --org myorg --role viewer --expire-time 2027-01-01T00:00:00Z",
		Args: exactArgs(),
	}
	clientCmd(env, withOrg, formatYAML, cmd, func(c *call, _ []string) error {
		if role == "" {
			return usageErrorf("--role is required: admin, deployer or viewer")
		}
		var err error
		if role, err = oneOf("role", role, api.RoleAdmin, api.RoleDeployer, api.RoleViewer); err != nil {
			return err
		}
		var expiry time.Time
		switch {
		case expiresIn != 0 && expireTime != "":
			return usageErrorf("give --expires-in or --expire-time, not both")
		case expiresIn < 0:
			return usageErrorf("--expires-in must be positive")
		case expiresIn > 0:
			expiry = c.now().Add(expiresIn)
		case expireTime != "":
			if expiry, err = time.Parse(time.RFC3339, expireTime); err != nil {
				return usageErrorf("invalid --expire-time %q: want RFC 3339, such as 2027-01-01T00:00:00Z", expireTime)
			}
		}
		out, err := c.client.CreateToken(c.ctx(), c.org, role, expiry)
		if err != nil {
			return err
		}
		return c.write(out, nil)
	})
	f := cmd.Flags()
	f.StringVar(&role, "role", "", "`ROLE`: admin, deployer or viewer (required)")
	f.DurationVar(&expiresIn, "expires-in", 0, "lifetime of the token, a `DURATION` such as 720h (default: no expiry)")
	f.StringVar(&expireTime, "expire-time", "", "when the token expires, a `TIME` in RFC 3339")
	return cmd
}

func newTokensListCmd(env clientEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List an organization's tokens (never their secrets)",
		Args:  exactArgs(),
	}
	return clientCmd(env, withOrg, formatTable, cmd, func(c *call, _ []string) error {
		tokens, err := allPages(func(page string) ([]api.Token, string, error) {
			list, err := c.client.ListTokens(c.ctx(), c.org, 0, page)
			if err != nil {
				return nil, "", err
			}
			return list.Tokens, list.NextPageToken, nil
		})
		if err != nil {
			return err
		}
		t := &table{header: []string{"ID", "ROLE", "CREATED", "EXPIRES", "REVOKED"}}
		for _, tok := range tokens {
			t.rows = append(t.rows, []string{lastSegment(tok.Name), tok.Role, tok.CreateTime, tok.ExpireTime, tok.RevokeTime})
		}
		return c.write(tokens, t)
	})
}

func newTokensRevokeCmd(env clientEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token at once",
		Long: "Revoke a token. ID is the last part of the token's name, as `tokens list` shows it.\n" +
			"With --format, the revoked token is printed on standard output.",
		Args: exactArgs("ID"),
	}
	return clientCmd(env, withOrg, formatYAML, cmd, func(c *call, args []string) error {
		out, err := c.client.RevokeToken(c.ctx(), c.org, lastSegment(args[0]))
		if err != nil {
			return err
		}
		fmt.Fprintf(c.cmd.ErrOrStderr(), "Revoked token [%s].\n", lastSegment(args[0]))
		if !c.formatGiven() {
			return nil
		}
		return c.write(out, nil)
	})
}
