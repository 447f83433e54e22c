package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/keyplane/keyplane/api"
	"github.com/spf13/cobra"
)

func newCertificatesCmd(env clientEnv) *cobra.Command {
	cmd := newGroupCmd("certificates", "Find the certificates that expire soon, and what uses them",
		"keyplane never renews a certificate, and an expired one takes a backend down at runtime.\n"+
			"These commands list every certificate of an organization's aliases by expiry, with the\n"+
			"live deployments and references that use it.")
	cmd.AddCommand(newCertificatesExpiringCmd(env))
	return cmd
}

// defaultWithin is the window of `certificates expiring` without --within:
// enough notice to renew a certificate by hand.
const defaultWithin = "30d"

func newCertificatesExpiringCmd(env clientEnv) *cobra.Command {
	var (
		within   string
		pageSize int
	)
	cmd := &cobra.Command{
		Use:   "expiring [--within 30d]",
		Short: "List the certificates that expire within a window; exit 1 if any in use does",
		Long: "List every certificate of the organization's aliases (each of a chain, leaf first) that\n" +
			"expires within --within from now, expired ones included, soonest first, with what uses\n" +
			"it: the environment's live archive deployment when it uses the alias's keystore, and the\n" +
			"references to that keystore. --within is a number of days such as 30d or a duration such\n" +
			"as 720h (default " + defaultWithin + "); 0s lists the expired certificates only.\n\n" +
			"The exit code is made for a scheduled CI job that pages someone: 1 when any certificate\n" +
			"in use expires within the window (said in one line on standard error), 0 when none does\n" +
			"(unused ones are listed but do not fail), 2 for a usage error, 3 when the server cannot\n" +
			"be reached.",
		Example: "  keyplane certificates expiring --org myorg --within 30d\n" +
			"  keyplane certificates expiring --within 720h --format json | jq '.[] | select(.inUse)'",
		Args: exactArgs(),
	}
	clientCmd(env, withOrg, formatTable, cmd, func(c *call, _ []string) error {
		if _, err := api.ParseWithin(within); err != nil {
			return usageErrorf("invalid --within %q: %v", within, err)
		}
		certs, err := allPages(func(token string) ([]api.CertificateExpiry, string, error) {
			page, err := c.client.ListCertificates(c.ctx(), c.org, within, pageSize, token)
			if err != nil {
				return nil, "", err
			}
			return page.Certificates, page.NextPageToken, nil
		})
		if err != nil {
			return err
		}
		if err := c.write(certs, certificatesTable(certs)); err != nil {
			return err
		}
		inUse := 0
		for _, cert := range certs {
			if cert.InUse {
				inUse++
			}
		}
		switch inUse {
		case 0:
			return nil
		case 1:
			return fmt.Errorf("1 certificate in use expires within %s", within)
		default:
			return fmt.Errorf("%d certificates in use expire within %s", inUse, within)
		}
	})
	cmd.Flags().StringVar(&within, "within", defaultWithin, "list what expires within this `WINDOW` from now: days (30d) or a duration (720h)")
	bindPageSize(cmd, &pageSize, "certificates")
	return cmd
}

// certificatesTable is the table form of the expiry view: one certificate
// a row, its users as deployment/ID and reference/NAME.
func certificatesTable(certs []api.CertificateExpiry) *table {
	t := &table{header: []string{"ENVIRONMENT", "KEYSTORE", "ALIAS", "INDEX", "SUBJECT", "EXPIRES", "DAYS-LEFT", "IN-USE", "USED-BY"}}
	for _, c := range certs {
		var users []string
		for _, d := range c.UsedBy.Deployments {
			users = append(users, "deployment/"+lastSegment(d))
		}
		for _, r := range c.UsedBy.References {
			users = append(users, "reference/"+lastSegment(r))
		}
		inUse := "no"
		if c.InUse {
			inUse = "yes"
		}
		t.rows = append(t.rows, []string{c.Environment, c.Keystore, c.Alias, strconv.Itoa(c.Index), c.Subject,
			formatMillis(c.ExpiryDate), strconv.Itoa(c.DaysLeft), inUse, strings.Join(users, ",")})
	}
	return t
}
