package main

import (
	"github.com/keyplane/keyplane/api"
	"github.com/spf13/cobra"
)

func newTargetServersCmd(env clientEnv) *cobra.Command {
	cmd := newGroupCmd("targetservers", "Create, list, describe, update and delete target servers",
		"A target server is a named backend (host and port) with the TLS settings the gateway\n"+
			"uses to reach it: --keystore and --key-alias for the client certificate of mutual TLS,\n"+
			"--truststore for the CAs it trusts. Keystores and truststores may be given as\n"+
			"ref://REFERENCE. In ARCHIVE environments target servers come from the archive's\n"+
			"targetservers.json instead.")
	cmd.Aliases = []string{"target-servers"}
	cmd.AddCommand(newTargetServersCreateCmd(env),
		listCmd(env, "list", "List an environment's target servers", withOrg|withEnv, (*api.Client).ListTargetServers),
		describeCmd(env, "NAME", "Show a target server", withOrg|withEnv, (*api.Client).GetTargetServer),
		newTargetServersUpdateCmd(env),
		deleteCmd(env, "NAME", "Delete a target server", "target server", withOrg|withEnv, (*api.Client).DeleteTargetServer))
	return cmd
}

// targetServerFlags are the fields of a target server that create and update
// set.
type targetServerFlags struct {
	description, host, protocol string
	port                        int64
	enabled                     bool
	tls, enforce, clientAuth    bool
	keystore, keyAlias, trust   string
	ignoreValidationErrors      bool
	protocols, ciphers          []string
	commonName                  string
	wildcardMatch               bool
}

func (t *targetServerFlags) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&t.description, "description", "", "description of the target server")
	f.StringVar(&t.host, "host", "", "`HOST` name or address of the backend")
	f.Int64Var(&t.port, "port", 0, "`PORT` of the backend")
	f.StringVar(&t.protocol, "protocol", "", "protocol, such as HTTP or GRPC (default: the server's, HTTP)")
	f.BoolVar(&t.enabled, "enabled", true, "whether the target server is in use")
	f.BoolVar(&t.tls, "tls", false, "connect to the backend over TLS")
	f.BoolVar(&t.enforce, "tls-enforce", false, "refuse to fall back to plain connections")
	f.BoolVar(&t.clientAuth, "client-auth", false, "present a client certificate (mutual TLS); needs --keystore and --key-alias")
	f.StringVar(&t.keystore, "keystore", "", "`KEYSTORE` holding the client certificate, or ref://REFERENCE")
	f.StringVar(&t.keyAlias, "key-alias", "", "`ALIAS` of the client certificate's key in --keystore")
	f.StringVar(&t.trust, "truststore", "", "`TRUSTSTORE` holding the CAs that sign the backend's certificate, or ref://REFERENCE")
	f.BoolVar(&t.ignoreValidationErrors, "ignore-validation-errors", false, "accept a backend certificate that does not validate")
	f.StringSliceVar(&t.protocols, "tls-protocols", nil, "TLS `VERSIONS`, comma-separated, such as TLSv1.2,TLSv1.3")
	f.StringSliceVar(&t.ciphers, "ciphers", nil, "cipher `SUITES` (IANA names), comma-separated")
	f.StringVar(&t.commonName, "common-name", "", "expected common name `CN` of the backend's certificate")
	f.BoolVar(&t.wildcardMatch, "wildcard-match", false, "let --common-name match wildcard certificates")
}

// apply copies the flags that were given onto ts.
func (t *targetServerFlags) apply(cmd *cobra.Command, ts *api.TargetServer) {
	f := cmd.Flags()
	set := func(name string, do func()) {
		if f.Changed(name) {
			do()
		}
	}
	set("description", func() { ts.Description = t.description })
	set("host", func() { ts.Host = t.host })
	set("port", func() { ts.Port = t.port })
	set("protocol", func() { ts.Protocol = t.protocol })
	set("enabled", func() { ts.IsEnabled = &t.enabled })
	tlsInfo := ts.SSLInfo
	if tlsInfo == nil {
		tlsInfo = &api.TLSInfo{}
	}
	touched := false
	setTLS := func(name string, do func()) {
		if f.Changed(name) {
			do()
			touched = true
		}
	}
	setTLS("tls", func() { tlsInfo.Enabled = t.tls })
	setTLS("tls-enforce", func() { tlsInfo.Enforce = t.enforce })
	setTLS("client-auth", func() { tlsInfo.ClientAuthEnabled = t.clientAuth })
	setTLS("keystore", func() { tlsInfo.KeyStore = t.keystore })
	setTLS("key-alias", func() { tlsInfo.KeyAlias = t.keyAlias })
	setTLS("truststore", func() { tlsInfo.TrustStore = t.trust })
	setTLS("ignore-validation-errors", func() { tlsInfo.IgnoreValidationErrors = t.ignoreValidationErrors })
	setTLS("tls-protocols", func() { tlsInfo.Protocols = t.protocols })
	setTLS("ciphers", func() { tlsInfo.Ciphers = t.ciphers })
	if f.Changed("common-name") || f.Changed("wildcard-match") {
		if tlsInfo.CommonName == nil {
			tlsInfo.CommonName = &api.CommonName{}
		}
		setTLS("common-name", func() { tlsInfo.CommonName.Value = t.commonName })
		setTLS("wildcard-match", func() { tlsInfo.CommonName.WildcardMatch = t.wildcardMatch })
	}
	if touched {
		ts.SSLInfo = tlsInfo
	}
}

func newTargetServersCreateCmd(env clientEnv) *cobra.Command {
	var flags targetServerFlags
	cmd := &cobra.Command{
		Use:   "create NAME --host HOST --port PORT [TLS flags]",
		Short: "Create a target server",
		Example: "  keyplane targetservers create backend --host backend.example.com --port 443 \\\n" +
			"      --tls --client-auth --keystore ref://gateway-keystore-ref --key-alias gateway \\\n" +
			"      --truststore ref://backend-truststore-ref",
		Args: exactArgs("NAME"),
	}
	clientCmd(env, withOrg|withEnv, formatYAML, cmd, func(c *call, args []string) error {
		if flags.host == "" || flags.port == 0 {
			return usageErrorf("--host and --port are required")
		}
		enabled := true
		ts := api.TargetServer{Name: args[0], IsEnabled: &enabled}
		flags.apply(c.cmd, &ts)
		out, err := c.client.CreateTargetServer(c.ctx(), c.org, c.env, ts)
		if err != nil {
			return err
		}
		return c.write(out, nil)
	})
	flags.bind(cmd)
	return cmd
}

func newTargetServersUpdateCmd(env clientEnv) *cobra.Command {
	var flags targetServerFlags
	cmd := &cobra.Command{
		Use:     "update NAME [flags]",
		Short:   "Change a target server; fields whose flags are not given keep their value",
		Example: "  keyplane targetservers update backend --key-alias gateway-2026",
		Args:    exactArgs("NAME"),
	}
	clientCmd(env, withOrg|withEnv, formatYAML, cmd, func(c *call, args []string) error {
		ts, err := c.client.GetTargetServer(c.ctx(), c.org, c.env, args[0])
		if err != nil {
			return err
		}
		flags.apply(c.cmd, ts)
		ts.Name = args[0]
		out, err := c.client.UpdateTargetServer(c.ctx(), c.org, c.env, *ts)
		if err != nil {
			return err
		}
		return c.write(out, nil)
	})
	flags.bind(cmd)
	return cmd
}
