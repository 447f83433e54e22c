package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/keyplane/keyplane/api"
)

// The benchmark's organization and environment, and the keystore holding
// the root CA that deployments use as their truststore.
const (
	benchOrg       = "bench"
	benchEnv       = "prod"
	truststoreName = "truststore"
	envPath        = "/v1/organizations/" + benchOrg + "/environments/" + benchEnv
)

func keystoreName(i int) string  { return fmt.Sprintf("ks-%04d", i) }
func aliasName(j int) string     { return fmt.Sprintf("a-%03d", j) }
func referenceName(i int) string { return fmt.Sprintf("ref-%04d", i) }

// dataset is the data the benchmark loads and then reads: keystores
// ks-0000… with aliases a-000… each (alternately RSA and EC leaves with
// their intermediate, all with keys), references ref-0000… to them, and the
// truststore.
type dataset struct {
	Keystores, Aliases, References int
	Pool                           *certPool
	// loadedKeystores is how many keystores hold their aliases so far;
	// reads pick among those.
	loadedKeystores int
	// seq numbers the resources that the write benchmarks create.
	seq atomic.Int64
}

// chainFor is the chain of alias j of keystore k: RSA and EC alternate.
func (d *dataset) chainFor(k, j int) *chain {
	n := k*d.Aliases + j
	if n%2 == 0 || len(d.Pool.EC) == 0 {
		return d.Pool.RSA[(n/2)%len(d.Pool.RSA)]
	}
	return d.Pool.EC[(n/2)%len(d.Pool.EC)]
}

// aliasUploadPath is where alias of keystore ks in the environment at env
// (such as envPath) is uploaded.
func aliasUploadPath(env, ks, alias string) string {
	return env + "/keystores/" + ks + "/aliases?alias=" + alias + "&format=keycertfile"
}

// createOrg creates organization org and its CONFIGURABLE environment env.
func createOrg(ctx context.Context, c *client, org, env string) error {
	if err := c.json(ctx, "POST", "/v1/organizations", api.Organization{Name: org}, nil); err != nil {
		return err
	}
	return c.json(ctx, "POST", "/v1/organizations/"+org+"/environments", api.Environment{
		Name: env, DeploymentType: api.DeploymentTypeArchive, APIProxyType: api.ProxyTypeConfigurable,
	}, nil)
}

// issueToken creates a token of role through the API. ok is false when the
// server has no token API (404 or 405): the caller then uses the bootstrap
// token.
func issueToken(ctx context.Context, admin *client, role string) (token string, ok bool, err error) {
	var out struct {
		Name  string `json:"name"`
		Token string `json:"token"`
	}
	err = admin.json(ctx, "POST", "/v1/organizations/"+benchOrg+"/tokens", map[string]string{"role": role}, &out)
	var se *statusError
	if errors.As(err, &se) && (se.Status == http.StatusNotFound || se.Status == http.StatusMethodNotAllowed) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if out.Token == "" {
		return "", false, fmt.Errorf("POST tokens answered without a token")
	}
	return out.Token, true, nil
}

// loadKeystores creates keystores [0, Keystores) and the truststore with
// the root CA.
func (d *dataset) loadKeystores(ctx context.Context, c *client, conc int) error {
	err := parallel(ctx, conc, d.Keystores, func(ctx context.Context, i int) error {
		return c.json(ctx, "POST", envPath+"/keystores", api.Keystore{Name: keystoreName(i)}, nil)
	})
	if err != nil {
		return err
	}
	if err := c.json(ctx, "POST", envPath+"/keystores", api.Keystore{Name: truststoreName}, nil); err != nil {
		return err
	}
	body, ct, err := certOnlyUpload(d.Pool.RootPEM)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, "POST", aliasUploadPath(envPath, truststoreName, "root"), ct, body)
	return err
}

// loadAliases uploads every alias of keystores [d.loadedKeystores, upTo)
// through the API, conc at a time, reporting progress to log.
func (d *dataset) loadAliases(ctx context.Context, c *client, conc, upTo int, log io.Writer) error {
	from := d.loadedKeystores
	n := (upTo - from) * d.Aliases
	start := time.Now()
	var done atomic.Int64
	err := parallel(ctx, conc, n, func(ctx context.Context, i int) error {
		k, j := from+i/d.Aliases, i%d.Aliases
		ch := d.chainFor(k, j)
		if _, err := c.do(ctx, "POST", aliasUploadPath(envPath, keystoreName(k), aliasName(j)), ch.ContentType, ch.Body); err != nil {
			return err
		}
		if m := done.Add(1); m%10000 == 0 {
			fmt.Fprintf(log, "  %d/%d aliases (%.0f/s)\n", m, n, float64(m)/time.Since(start).Seconds())
		}
		return nil
	})
	if err != nil {
		return err
	}
	d.loadedKeystores = upTo
	return nil
}

// loadReferences creates references [0, References), each to a keystore.
func (d *dataset) loadReferences(ctx context.Context, c *client, conc int) error {
	return parallel(ctx, conc, d.References, func(ctx context.Context, i int) error {
		return c.json(ctx, "POST", envPath+"/references", api.Reference{
			Name: referenceName(i), ResourceType: api.ResourceTypeKeyStore, Refers: keystoreName(i % d.Keystores),
		}, nil)
	})
}

// getAlias reads a random alias of the loaded keystores.
func (d *dataset) getAlias(c *client) op {
	return func(ctx context.Context, w *worker) error {
		k, j := w.Rng.IntN(d.loadedKeystores), w.Rng.IntN(d.Aliases)
		_, err := c.do(ctx, "GET", envPath+"/keystores/"+keystoreName(k)+"/aliases/"+aliasName(j), "", nil)
		return err
	}
}

// getKeystore reads a random keystore, with the names of its aliases.
func (d *dataset) getKeystore(c *client) op {
	return func(ctx context.Context, w *worker) error {
		_, err := c.do(ctx, "GET", envPath+"/keystores/"+keystoreName(w.Rng.IntN(d.loadedKeystores)), "", nil)
		return err
	}
}

// healthz asks GET /healthz: HTTP and routing, no database.
func healthz(c *client) op {
	return func(ctx context.Context, _ *worker) error {
		_, err := c.do(ctx, "GET", "/healthz", "", nil)
		return err
	}
}

// getOperation reads one of the given operations at random.
func getOperation(c *client, names []string) op {
	return func(ctx context.Context, w *worker) error {
		_, err := c.do(ctx, "GET", "/v1/"+names[w.Rng.IntN(len(names))], "", nil)
		return err
	}
}

// createAlias uploads a new alias (RSA-2048 key, leaf and intermediate)
// into a random keystore.
func (d *dataset) createAlias(c *client) op {
	return func(ctx context.Context, w *worker) error {
		ch := d.Pool.RSA[w.Rng.IntN(len(d.Pool.RSA))]
		name := fmt.Sprintf("w-%07d", d.seq.Add(1))
		_, err := c.do(ctx, "POST", aliasUploadPath(envPath, keystoreName(w.Rng.IntN(d.Keystores)), name), ch.ContentType, ch.Body)
		return err
	}
}

// createReference creates a new reference to a random keystore.
func (d *dataset) createReference(c *client) op {
	return func(ctx context.Context, w *worker) error {
		return c.json(ctx, "POST", envPath+"/references", api.Reference{
			Name: fmt.Sprintf("wr-%07d", d.seq.Add(1)), ResourceType: api.ResourceTypeKeyStore,
			Refers: keystoreName(w.Rng.IntN(d.Keystores)),
		}, nil)
	}
}
