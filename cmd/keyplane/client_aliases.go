package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/spf13/cobra"
)

func newAliasesCmd(env clientEnv) *cobra.Command {
	cmd := newGroupCmd("aliases", "Create and inspect the keys and certificates of a keystore",
		"An alias is one entry of a keystore: a private key with its certificate chain (type\n"+
			"KEY_CERT), or certificates only (type CERT, as in a truststore). Every command names\n"+
			"the keystore with --keystore and the alias with --alias or as its argument.\n\n"+
			"Secrets (keys, PKCS#12 files, passwords) are read from files, or from standard input\n"+
			"when the file name is -, never from flags.")
	cmd.AddCommand(newAliasesCreateCmd(env), newAliasesListCmd(env), newAliasesDescribeCmd(env),
		newAliasesUpdateCmd(env), newAliasesDeleteCmd(env), newAliasesCertificateCmd(env), newAliasesCSRCmd(env))
	return cmd
}

// aliasTarget is the keystore and alias a command works on.
type aliasTarget struct {
	keystore string
	alias    string
}

func (a *aliasTarget) bind(cmd *cobra.Command) {
	cmd.Flags().StringVar(&a.keystore, "keystore", "", "keystore (or truststore) `KS` that holds the alias (required)")
	cmd.Flags().StringVar(&a.alias, "alias", "", "name of the `ALIAS` (or give it as the argument)")
}

// resolve takes the alias from the argument or --alias, not both.
func (a *aliasTarget) resolve(args []string) (keystore, alias string, err error) {
	if a.keystore == "" {
		return "", "", usageErrorf("--keystore is required")
	}
	switch {
	case len(args) == 1 && a.alias != "" && args[0] != a.alias:
		return "", "", usageErrorf("the alias is given twice: %q and --alias %q", args[0], a.alias)
	case len(args) == 1:
		return a.keystore, args[0], nil
	case a.alias != "":
		return a.keystore, a.alias, nil
	}
	return "", "", usageErrorf("an alias is required: pass --alias or give it as the argument")
}

// aliasCmd makes cmd a command on one alias of a keystore, named by
// --keystore and by the argument or --alias: it runs do with them (see
// clientCmd for scope; the output is yaml by default).
func aliasCmd(env clientEnv, scope sessionFlags, cmd *cobra.Command, do func(c *call, keystore, alias string) error) *cobra.Command {
	var target aliasTarget
	cmd.Args = maxArgs(1)
	clientCmd(env, scope, formatYAML, cmd, func(c *call, args []string) error {
		keystore, alias, err := target.resolve(args)
		if err != nil {
			return err
		}
		return do(c, keystore, alias)
	})
	target.bind(cmd)
	return cmd
}

// writeAlias writes an alias as an aliasView, its certificates a row each in
// table form.
func (c *call) writeAlias(a *api.Alias) error {
	v := newAliasView(a, c.now())
	return c.write(v, certTable(v))
}

// bindAliasOptions adds the flags of api.AliasOptions.
func bindAliasOptions(cmd *cobra.Command, opts *api.AliasOptions) {
	f := cmd.Flags()
	f.BoolVar(&opts.IgnoreExpiryValidation, "ignore-expiry-validation", false, "accept an expired certificate")
	f.BoolVar(&opts.IgnoreNewlineValidation, "ignore-newline-validation", false, "accept PEM files with text outside the PEM blocks (skipped), or a -----BEGIN line glued to the -----END line before it (split)")
}

// Alias formats of `aliases create --format`.
const (
	aliasFormatKeyCert    = "keycertfile"
	aliasFormatPKCS12     = "pkcs12"
	aliasFormatSelfSigned = "selfsignedcert"
)

func newAliasesCreateCmd(env clientEnv) *cobra.Command {
	s := &session{env: env}
	var (
		target                                     aliasTarget
		format, certFile, keyFile, file, passwFile string
		commonName, keySize, sigAlg                string
		validityDays                               int
		dnsNames                                   []string
		opts                                       api.AliasOptions
	)
	cmd := &cobra.Command{
		Use:   "create [ALIAS] --keystore KS --format keycertfile|pkcs12|selfsignedcert ...",
		Short: "Create an alias from PEM files, a PKCS#12 file, or a new self-signed certificate",
		Long: "Create an alias in a keystore. --format says where the key and certificate come from:\n\n" +
			"  keycertfile     --cert-file (PEM, a chain leaf first) and, for a key alias, --key-file\n" +
			"                  (PEM: PKCS#1, PKCS#8 or EC), with --password-file if the key is encrypted.\n" +
			"                  Without --key-file the alias holds certificates only, as in a truststore.\n" +
			"  pkcs12          --file (a PKCS#12 bundle) and --password-file.\n" +
			"  selfsignedcert  the server makes a key and a self-signed certificate for --common-name.\n\n" +
			"Here --format is the input format; the result is printed as --output-format says.\n" +
			"An expired certificate is refused unless --ignore-expiry-validation is given.",
		Example: "  keyplane aliases create --keystore gateway-keystore --alias gateway \\\n" +
			"      --format keycertfile --cert-file gateway.crt --key-file gateway.key\n" +
			"  keyplane aliases create --keystore backend-truststore --alias ca --format keycertfile --cert-file ca.crt\n" +
			"  keyplane aliases create --keystore ks --alias p12 --format pkcs12 --file bundle.p12 --password-file - < pass.txt\n" +
			"  keyplane aliases create --keystore ks --alias self --format selfsignedcert --common-name gw.example.com --validity-days 90",
		Args: maxArgs(1),
		RunE: s.run(formatYAML, func(c *call, args []string) error {
			keystore, alias, err := target.resolve(args)
			if err != nil {
				return err
			}
			f := c.cmd.Flags()
			// only lists the flags that a format does not use, to refuse them.
			only := func(format string, used ...string) error {
				for _, name := range []string{"cert-file", "key-file", "file", "password-file", "common-name", "validity-days", "key-size", "sig-alg", "subject-alternative-dns-names"} {
					if f.Changed(name) && !contains(used, name) {
						return usageErrorf("--%s cannot be used with --format %s", name, format)
					}
				}
				return checkOneStdin(map[string]string{"cert-file": certFile, "key-file": keyFile, "file": file, "password-file": passwFile})
			}
			cl, ctx := c.client, c.ctx()
			var out *api.Alias
			switch strings.ToLower(format) {
			case aliasFormatKeyCert:
				if err := only(aliasFormatKeyCert, "cert-file", "key-file", "password-file"); err != nil {
					return err
				}
				if certFile == "" {
					return usageErrorf("--format keycertfile needs --cert-file")
				}
				var in api.KeyCertFile
				if in.Cert, err = readSecretFile(c.cmd, "cert-file", certFile); err != nil {
					return err
				}
				if keyFile != "" {
					if in.Key, err = readSecretFile(c.cmd, "key-file", keyFile); err != nil {
						return err
					}
				}
				if passwFile != "" {
					if in.Password, err = readPassword(c.cmd, "password-file", passwFile); err != nil {
						return err
					}
				}
				out, err = cl.CreateAliasFromKeyCert(ctx, c.org, c.env, keystore, alias, in, opts)
			case aliasFormatPKCS12:
				if err := only(aliasFormatPKCS12, "file", "password-file"); err != nil {
					return err
				}
				if file == "" || passwFile == "" {
					return usageErrorf("--format pkcs12 needs --file and --password-file")
				}
				p12, err := readSecretFile(c.cmd, "file", file)
				if err != nil {
					return err
				}
				password, err := readPassword(c.cmd, "password-file", passwFile)
				if err != nil {
					return err
				}
				out, err = cl.CreateAliasFromPKCS12(ctx, c.org, c.env, keystore, alias, p12, password, opts)
				if err != nil {
					return err
				}
			case aliasFormatSelfSigned:
				if err := only(aliasFormatSelfSigned, "common-name", "validity-days", "key-size", "sig-alg", "subject-alternative-dns-names"); err != nil {
					return err
				}
				if commonName == "" {
					return usageErrorf("--format selfsignedcert needs --common-name")
				}
				req := api.SelfSignedCertRequest{
					Alias:              alias,
					KeySize:            keySize,
					SigAlg:             sigAlg,
					Subject:            api.CertSubject{CommonName: commonName},
					CertValidityInDays: validityDays,
				}
				if len(dnsNames) > 0 {
					req.SubjectAlternativeDNSNames = &api.SubjectAltDNS{SubjectAlternativeName: dnsNames}
				}
				out, err = cl.CreateSelfSignedAlias(ctx, c.org, c.env, keystore, alias, req, opts)
			case "":
				return usageErrorf("--format is required: keycertfile, pkcs12 or selfsignedcert")
			default:
				return usageErrorf("invalid --format %q: want keycertfile, pkcs12 or selfsignedcert", format)
			}
			if err != nil {
				return err
			}
			return c.writeAlias(out)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "", "`KIND` of input the key and certificate come from: keycertfile, pkcs12 or selfsignedcert (required)")
	f.StringVar(&s.format, "output-format", "", "output `FORMAT`: yaml, json or table (default yaml)")
	s.bind(cmd, withOrg|withEnv)
	target.bind(cmd)
	f.StringVar(&certFile, "cert-file", "", "keycertfile: PEM certificate or chain, leaf first, in `FILE` (- for standard input)")
	f.StringVar(&keyFile, "key-file", "", "keycertfile: PEM private key in `FILE` (- for standard input)")
	f.StringVar(&file, "file", "", "pkcs12: PKCS#12 `FILE` (- for standard input)")
	f.StringVar(&passwFile, "password-file", "", "`FILE` holding the password of the key or PKCS#12 file (- for standard input)")
	f.StringVar(&commonName, "common-name", "", "selfsignedcert: subject common name `CN`")
	f.IntVar(&validityDays, "validity-days", 0, "selfsignedcert: `N` days the certificate is valid (default: the server's, 365)")
	f.StringVar(&keySize, "key-size", "", "selfsignedcert: RSA key size in `BITS` (default: the server's)")
	f.StringVar(&sigAlg, "sig-alg", "", "selfsignedcert: signature `ALGORITHM`, such as SHA256withRSA (default: the server's)")
	f.StringSliceVar(&dnsNames, "subject-alternative-dns-names", nil, "selfsignedcert: subject alternative DNS `NAMES`, comma-separated")
	bindAliasOptions(cmd, &opts)
	return cmd
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func newAliasesListCmd(env clientEnv) *cobra.Command {
	var keystore string
	cmd := listCmd(env, "list --keystore KS", "List the aliases of a keystore (keystores describe also shows their expiry)", withOrg|withEnv,
		func(cl *api.Client, ctx context.Context, org, env string) ([]string, error) {
			if keystore == "" {
				return nil, usageErrorf("--keystore is required")
			}
			ks, err := cl.GetKeystore(ctx, org, env, keystore)
			if err != nil {
				return nil, err
			}
			if ks.Aliases == nil {
				return []string{}, nil
			}
			return ks.Aliases, nil
		})
	cmd.Flags().StringVar(&keystore, "keystore", "", "keystore (or truststore) `KS` to list (required)")
	return cmd
}

// aliasView is an alias as the CLI prints it: the wire form, with each
// certificate's validity also in RFC 3339 and its days until expiry.
type aliasView struct {
	Alias     string `json:"alias"`
	Type      string `json:"type"`
	CertsInfo struct {
		CertInfo []certView `json:"certInfo"`
	} `json:"certsInfo"`
}

type certView struct {
	api.CertInfo
	NotBefore       string `json:"notBefore"`
	NotAfter        string `json:"notAfter"`
	DaysUntilExpiry int    `json:"daysUntilExpiry"`
}

func newAliasView(a *api.Alias, now time.Time) aliasView {
	v := aliasView{Alias: a.Alias, Type: a.Type}
	v.CertsInfo.CertInfo = []certView{}
	for _, c := range a.CertsInfo.CertInfo {
		v.CertsInfo.CertInfo = append(v.CertsInfo.CertInfo, certView{
			CertInfo:        c,
			NotBefore:       formatMillis(c.ValidFrom),
			NotAfter:        formatMillis(c.ExpiryDate),
			DaysUntilExpiry: daysUntil(now, c.ExpiryDate),
		})
	}
	return v
}

// certTable is the table form of an alias: one certificate a row.
func certTable(v aliasView) *table {
	t := &table{header: []string{"SUBJECT", "ISSUER", "NOT BEFORE", "NOT AFTER", "DAYS LEFT", "VALID"}}
	for _, c := range v.CertsInfo.CertInfo {
		t.rows = append(t.rows, []string{c.Subject, c.Issuer, c.NotBefore, c.NotAfter, fmt.Sprint(c.DaysUntilExpiry), c.IsValid})
	}
	return t
}

func newAliasesDescribeCmd(env clientEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe [ALIAS] --keystore KS",
		Short: "Show an alias's certificates: subject, issuer, validity and days until expiry",
		Long: "Show an alias and each certificate of its chain, leaf first. Besides the API's fields\n" +
			"(validFrom and expiryDate in milliseconds), notBefore and notAfter give the validity in\n" +
			"RFC 3339 and daysUntilExpiry counts whole days left (negative: expired that many days\n" +
			"ago, -1 on the first day).",
		Example: "  keyplane aliases describe gateway --keystore gateway-keystore\n" +
			"  keyplane aliases describe --keystore gateway-keystore --alias gateway --format table",
	}
	return aliasCmd(env, withOrg|withEnv, cmd, func(c *call, keystore, alias string) error {
		out, err := c.client.GetAlias(c.ctx(), c.org, c.env, keystore, alias)
		if err != nil {
			return err
		}
		return c.writeAlias(out)
	})
}

func newAliasesUpdateCmd(env clientEnv) *cobra.Command {
	var (
		certFile string
		opts     api.AliasOptions
	)
	cmd := &cobra.Command{
		Use:   "update [ALIAS] --keystore KS --cert-file F",
		Short: "Replace an alias's certificate, keeping its key",
		Long: "Replace the certificate of an alias with a new one for the same key (a renewal).\n" +
			"CONFIGURABLE environments refuse this: create a new alias and deploy an archive that uses it.",
	}
	aliasCmd(env, withOrg|withEnv, cmd, func(c *call, keystore, alias string) error {
		if certFile == "" {
			return usageErrorf("--cert-file is required")
		}
		cert, err := readSecretFile(c.cmd, "cert-file", certFile)
		if err != nil {
			return err
		}
		out, err := c.client.UpdateAliasCertificate(c.ctx(), c.org, c.env, keystore, alias, cert, opts)
		if err != nil {
			return err
		}
		return c.writeAlias(out)
	})
	cmd.Flags().StringVar(&certFile, "cert-file", "", "PEM certificate or chain, leaf first, in `FILE` (- for standard input)")
	bindAliasOptions(cmd, &opts)
	return cmd
}

func newAliasesDeleteCmd(env clientEnv) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete [ALIAS] --keystore KS",
		Short: "Delete an alias",
		Long:  deleteLong("Delete an alias"),
	}
	return aliasCmd(env, withOrg|withEnv, cmd, func(c *call, keystore, alias string) error {
		out, err := c.client.DeleteAlias(c.ctx(), c.org, c.env, keystore, alias)
		if err != nil {
			return err
		}
		return c.deleted("alias", alias, newAliasView(out, c.now()))
	})
}

func newAliasesCertificateCmd(env clientEnv) *cobra.Command {
	return newAliasPEMCmd(env, "certificate", "Print an alias's certificate chain as PEM", (*api.Client).GetAliasCertificate)
}

func newAliasesCSRCmd(env clientEnv) *cobra.Command {
	return newAliasPEMCmd(env, "csr", "Print a certificate signing request (PEM) signed by the alias's key", (*api.Client).GetAliasCSR)
}

// newAliasPEMCmd builds a command that prints PEM from the server as is, so
// that `> file.pem` gives a usable file.
func newAliasPEMCmd(env clientEnv, name, short string, get func(cl *api.Client, ctx context.Context, org, env, keystore, alias string) ([]byte, error)) *cobra.Command {
	cmd := &cobra.Command{Use: name + " [ALIAS] --keystore KS", Short: short}
	// Without --format, the format check that run makes first always passes.
	return aliasCmd(env, withOrg|withEnv|withoutFormat, cmd, func(c *call, keystore, alias string) error {
		pem, err := get(c.client, c.ctx(), c.org, c.env, keystore, alias)
		if err != nil {
			return err
		}
		_, err = c.cmd.OutOrStdout().Write(pem)
		return err
	})
}
