package main

import (
	"errors"
	"net/http"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/spf13/cobra"
)

func newKeystoresCmd(env clientEnv) *cobra.Command {
	cmd := newGroupCmd("keystores", "Create, list, describe and delete keystores and truststores",
		"A keystore holds aliases: a private key with its certificate chain (what the gateway\n"+
			"presents to a backend), or certificates only. A truststore is a keystore whose\n"+
			"aliases hold certificates only (the CAs the gateway trusts).")
	cmd.Aliases = []string{"truststores"}
	cmd.AddCommand(newKeystoresCreateCmd(env),
		listCmd(env, "list", "List an environment's keystores", withOrg|withEnv, (*api.Client).ListKeystores),
		newKeystoresDescribeCmd(env),
		deleteCmd(env, "NAME", "Delete a keystore and its aliases", "keystore", withOrg|withEnv, (*api.Client).DeleteKeystore))
	return cmd
}

func newKeystoresCreateCmd(env clientEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "create NAME",
		Short:   "Create an empty keystore or truststore",
		Example: "  keyplane keystores create gateway-keystore --org myorg --env dev",
		Args:    exactArgs("NAME"),
	}
	return clientCmd(env, withOrg|withEnv, formatYAML, cmd, func(c *call, args []string) error {
		out, err := c.client.CreateKeystore(c.ctx(), c.org, c.env, args[0])
		if err != nil {
			return err
		}
		return c.write(out, nil)
	})
}

// keystoreView is a keystore as `keystores describe` prints it: each alias
// with the subject of its leaf certificate and the expiry of its chain.
type keystoreView struct {
	Name    string         `json:"name"`
	Aliases []aliasSummary `json:"aliases"`
}

type aliasSummary struct {
	Alias   string `json:"alias"`
	Type    string `json:"type"`
	Subject string `json:"subject,omitempty"`
	// Expiry is when the first certificate of the chain expires, after
	// which the alias is no longer usable.
	Expiry          string `json:"expiry,omitempty"`
	DaysUntilExpiry *int   `json:"daysUntilExpiry,omitempty"`
}

func newKeystoresDescribeCmd(env clientEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Show a keystore and when each of its aliases expires",
		Long: "Show a keystore with each alias's type, the subject of its certificate, and when the\n" +
			"first certificate of its chain expires (negative days: expired that many days ago).",
		Args: exactArgs("NAME"),
	}
	return clientCmd(env, withOrg|withEnv, formatYAML, cmd, func(c *call, args []string) error {
		ks, err := c.client.GetKeystore(c.ctx(), c.org, c.env, args[0])
		if err != nil {
			return err
		}
		view := keystoreView{Name: ks.Name, Aliases: []aliasSummary{}}
		t := &table{header: []string{"ALIAS", "TYPE", "SUBJECT", "EXPIRY", "DAYS LEFT"}}
		for _, name := range ks.Aliases {
			a, err := c.client.GetAlias(c.ctx(), c.org, c.env, args[0], name)
			var apiErr *api.Error
			if errors.As(err, &apiErr) && apiErr.HTTPStatus == http.StatusNotFound {
				continue // deleted since the keystore was read
			}
			if err != nil {
				return err
			}
			sum := summarizeAlias(a, c.now())
			view.Aliases = append(view.Aliases, sum)
			days := ""
			if sum.DaysUntilExpiry != nil {
				days = itoa(int64(*sum.DaysUntilExpiry))
			}
			t.rows = append(t.rows, []string{sum.Alias, sum.Type, sum.Subject, sum.Expiry, days})
		}
		return c.write(view, t)
	})
}

func summarizeAlias(a *api.Alias, now time.Time) aliasSummary {
	sum := aliasSummary{Alias: a.Alias, Type: a.Type}
	certs := a.CertsInfo.CertInfo
	if len(certs) == 0 {
		return sum
	}
	sum.Subject = certs[0].Subject
	first := certs[0].ExpiryDate
	for _, c := range certs[1:] {
		first = min(first, c.ExpiryDate)
	}
	sum.Expiry = formatMillis(first)
	days := daysUntil(now, first)
	sum.DaysUntilExpiry = &days
	return sum
}

// daysUntil counts the whole days from now to ms since the epoch, by the
// rule of api.DaysLeft, which the server's expiry view follows too.
func daysUntil(now time.Time, ms int64) int {
	return api.DaysLeft(now, time.UnixMilli(ms))
}
