package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/egress"
)

// The organization and environment that the gateway serves in the
// benchmark, apart from the data set's, and what the proxies are asked.
// Neither name has a hyphen, so that the host {org}-{env}.localhost reads
// one way only.
const (
	gwOrg      = "gwbench"
	gwEnv      = "dev"
	gwEnvPath  = "/v1/organizations/" + gwOrg + "/environments/" + gwEnv
	gwHost     = gwOrg + "-" + gwEnv + ".localhost"
	gwBasePath = "/hello"
	helloPath  = gwBasePath + "/helloworld"

	// The resources of the gateway's mutual TLS: the client certificate
	// and key in a keystore, the backend's CA in a truststore, each
	// reached through a reference as the seeds do.
	gwKeystore      = "client-keystore"
	gwKeyAlias      = "client"
	gwTruststore    = "backend-truststore"
	gwKeystoreRef   = "client-keystore-ref"
	gwTruststoreRef = "backend-truststore-ref"
	gwTargetServer  = "backend"
)

// setupGateway creates, through the API, what the gateway needs to serve
// helloPath from the backend over mutual TLS, and deploys it: an
// organization and CONFIGURABLE environment, a keystore with the client
// certificate and key, a truststore with the backend's CA, a reference to
// each, and an archive whose proxy "hello" (base path /hello) sends GET
// /helloworld to the target server "backend" on localhost:port with
// sSLInfo naming both references.
func setupGateway(ctx context.Context, c *client, m *mtls, port int) error {
	if err := createOrg(ctx, c, gwOrg, gwEnv); err != nil {
		return err
	}
	for _, ks := range []string{gwKeystore, gwTruststore} {
		if err := c.json(ctx, "POST", gwEnvPath+"/keystores", api.Keystore{Name: ks}, nil); err != nil {
			return err
		}
	}
	key, err := newChain(false, m.client, m.clientCA)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, "POST", aliasUploadPath(gwEnvPath, gwKeystore, gwKeyAlias), key.ContentType, key.Body); err != nil {
		return err
	}
	body, ct, err := certOnlyUpload(certPEM(m.serverCA.cert))
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, "POST", aliasUploadPath(gwEnvPath, gwTruststore, "backend-ca"), ct, body); err != nil {
		return err
	}
	for _, ref := range []api.Reference{
		{Name: gwKeystoreRef, ResourceType: api.ResourceTypeKeyStore, Refers: gwKeystore},
		{Name: gwTruststoreRef, ResourceType: api.ResourceTypeTrustStore, Refers: gwTruststore},
	} {
		if err := c.json(ctx, "POST", gwEnvPath+"/references", ref, nil); err != nil {
			return err
		}
	}
	zip, err := helloArchive(port)
	if err != nil {
		return err
	}
	return (&deployer{c: c, poll: c, env: gwEnvPath, archive: zip}).deploy(ctx, nil)
}

// helloArchive is the archive of the gateway's proxy: the seeds' hello
// world behind mutual TLS, its target server on localhost:port.
func helloArchive(port int) ([]byte, error) {
	enabled := true
	servers, err := json.Marshal([]api.TargetServer{{
		Name: gwTargetServer, Host: "localhost", Port: int64(port), IsEnabled: &enabled, Protocol: "HTTP",
		SSLInfo: &api.TLSInfo{
			Enabled: true, ClientAuthEnabled: true,
			KeyStore: "ref://" + gwKeystoreRef, KeyAlias: gwKeyAlias, TrustStore: "ref://" + gwTruststoreRef,
		},
	}})
	if err != nil {
		return nil, err
	}
	config := "basepath: " + gwBasePath + "\n" +
		"operations:\n" +
		"  - name: helloworld\n" +
		"    http_match: [{path_template: \"/helloworld\", method: GET}]\n" +
		"    target:\n" +
		"      target_server_id: " + gwTargetServer + "\n"
	return zipFiles([]archiveFile{
		{"src/main/apigee/apiproxies/hello/config.yaml", config},
		{"src/main/apigee/environments/" + gwEnv + "/deployments.json", `{"proxies":[{"name":"hello"}],"sharedflows":[]}`},
		{"src/main/apigee/environments/" + gwEnv + "/targetservers.json", string(servers)},
	})
}

// errGatewayMissing is a keyplane binary with no gateway command.
var errGatewayMissing = errors.New("the keyplane binary has no gateway command")

// gatewayBanner is in the line `keyplane gateway` prints once it listens.
const gatewayBanner = "serving on"

// startGateway runs argv (keyplane gateway) with env and the environment
// that configures it, on a free loopback port, and waits until it listens
// and then until it serves helloPath for gwHost, which it does once it has
// loaded the deployment. A binary without the command is errGatewayMissing.
func startGateway(ctx context.Context, argv, env []string, dbURL, masterKey, dir string) (proc *serverProcess, err error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	watch := newLineWatch(gatewayBanner)
	p, err := startProcess(argv, append(append([]string{}, env...),
		"DATABASE_URL="+dbURL,
		"KEYPLANE_MASTER_KEY="+masterKey,
		"KEYPLANE_GATEWAY_ADDR="+addr,
		"KEYPLANE_GATEWAY_DOMAIN=localhost",
		"KEYPLANE_GATEWAY_TARGETS_ALLOW="+egress.Loopback,
	), filepath.Join(dir, "gateway.log"), watch)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = p.stop()
		}
	}()
	if _, err := p.waitLine(ctx, watch, 30*time.Second); err != nil {
		if log, _ := os.ReadFile(p.logPath); strings.Contains(string(log), `unknown command "gateway"`) {
			return nil, fmt.Errorf("%w (%s)", errGatewayMissing, strings.Join(argv, " "))
		}
		return nil, fmt.Errorf("gateway: %w\n%s", err, p.logTail(20))
	}
	p.URL = "http://" + addr
	if err := waitAnswer(ctx, p, p.URL+helloPath, gwHost, 30*time.Second); err != nil {
		return nil, fmt.Errorf("gateway: %w\n%s", err, p.logTail(20))
	}
	return p, nil
}
