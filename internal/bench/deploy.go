package bench

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/keyplane/keyplane/api"
)

// deployArchive is a configurable proxy "orders" with one operation per
// target server, and targetservers.json defining those target servers with
// mutual TLS: each one's key comes from a keystore through a reference (or
// directly when the data set has no references), its trust from the
// truststore. Every name resolves, so every deployment succeeds.
// Targets are loopback addresses, allowed by the server's fence, which no
// deployment dials.
func (d *dataset) deployArchive(targets int) ([]byte, error) {
	var config strings.Builder
	config.WriteString("basepath: /orders\noperations:\n")
	servers := make([]api.TargetServer, targets)
	enabled := true
	for i := range targets {
		ts := fmt.Sprintf("backend-%02d", i)
		fmt.Fprintf(&config, "  - name: op-%02d\n    http_match: [{path_template: \"/%02d\", method: GET}]\n    target:\n      target_server_id: %s\n", i, i, ts)
		keyStore := keystoreName(i % d.Keystores)
		if d.References > 0 {
			keyStore = "ref://" + referenceName(i%d.References)
		}
		servers[i] = api.TargetServer{
			// A loopback address of its own: a deployment checks every
			// target's host against the target fence, resolving names,
			// and the benchmark sends nothing off the machine.
			Name: ts, Host: fmt.Sprintf("127.0.2.%d", 1+i%250), Port: 443, IsEnabled: &enabled, Protocol: "HTTP",
			SSLInfo: &api.TLSInfo{
				Enabled: true, ClientAuthEnabled: true, KeyStore: keyStore, KeyAlias: aliasName(0), TrustStore: truststoreName,
			},
		}
	}
	tsJSON, err := json.Marshal(servers)
	if err != nil {
		return nil, err
	}
	return zipFiles([]archiveFile{
		{"src/main/apigee/apiproxies/orders/config.yaml", config.String()},
		{"src/main/apigee/environments/" + benchEnv + "/deployments.json", `{"proxies":[{"name":"orders"}],"sharedflows":[]}`},
		{"src/main/apigee/environments/" + benchEnv + "/targetservers.json", string(tsJSON)},
	})
}

// archiveFile is one file of an archive built in memory.
type archiveFile struct{ name, content string }

// zipFiles zips files, in order.
func zipFiles(files []archiveFile) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write([]byte(f.content)); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// operationLog collects the names of the operations the deployments made,
// for the get_operation reads.
type operationLog struct {
	mu    sync.Mutex
	names []string
}

func (l *operationLog) add(name string) {
	l.mu.Lock()
	l.names = append(l.names, name)
	l.mu.Unlock()
}

// deployer runs one deployment from upload to done. The upload and create
// requests go through c (labelled for statement counting); the polls go
// through poll, unlabelled, because their number depends on timing.
type deployer struct {
	c, poll *client
	// env is the environment's path, such as envPath.
	env     string
	archive []byte
	ops     *operationLog
}

// pollInterval is how often a deployment's operation is polled.
const pollInterval = 5 * time.Millisecond

// deploy uploads the archive, creates the deployment and polls its
// operation every 5 ms until it is done; a failed deployment is an error.
func (d *deployer) deploy(ctx context.Context, _ *worker) error {
	var up api.GenerateUploadURLResponse
	if err := d.c.json(ctx, "POST", d.env+"/archiveDeployments:generateUploadUrl", struct{}{}, &up); err != nil {
		return err
	}
	// The server streams a few uploads at once and refuses more with 429,
	// for the client to try again: as a client should, this one does.
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		_, err := d.c.do(ctx, "PUT", up.UploadURI, "application/zip", d.archive)
		var se *statusError
		if !errors.As(err, &se) || se.Status != http.StatusTooManyRequests {
			if err != nil {
				return err
			}
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	var op api.Operation
	if err := d.c.json(ctx, "POST", d.env+"/archiveDeployments", map[string]any{"gcsUri": up.UploadURI}, &op); err != nil {
		return err
	}
	if d.ops != nil {
		d.ops.add(op.Name)
	}
	deadline := time.Now().Add(time.Minute)
	for !op.Done {
		if time.Now().After(deadline) {
			return fmt.Errorf("operation %s not done after a minute (state %s)", op.Name, op.Metadata.State)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
		if err := d.poll.json(ctx, "GET", "/v1/"+op.Name, nil, &op); err != nil {
			return err
		}
	}
	if op.Error != nil {
		return fmt.Errorf("deployment %s failed: %d %s", op.Name, op.Error.Code, op.Error.Message)
	}
	return nil
}
