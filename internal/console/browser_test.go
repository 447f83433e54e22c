package console_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/testcerts"
)

// screenshotDir is where the browser tests leave pictures of the main
// pages, for the README.
var screenshotDir = filepath.Join("..", "..", "docs", "console")

// chromium finds Debian's chromium. Without it the browser tests fail,
// unless KEYPLANE_SKIP_BROWSER_TESTS=1 asks to leave them out.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("KEYPLANE_SKIP_BROWSER_TESTS") == "1" {
		t.Skip("no chromium, and KEYPLANE_SKIP_BROWSER_TESTS=1")
	}
	t.Fatal("the console's browser tests need chromium: apt-get install chromium (or set KEYPLANE_SKIP_BROWSER_TESTS=1)")
	return ""
}

// tab is a headless chromium tab at 1280×900, light mode.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func newTab(t *testing.T) *tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // CI runs the tests as root
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; it must not carry a timeout.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	return &tab{t: t, ctx: ctx}
}

// do runs steps with a deadline.
func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		// Say where the browser got stuck.
		dctx, dcancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer dcancel()
		loc, _ := chromedp.Run(dctx, chromedp.Location())
		main, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.querySelector('main') ? document.querySelector('main').innerText : document.body.innerText`))
		b.t.Fatalf("browser: %v\nat %s:\n%s", err, loc, main)
	}
}

func run[T any](b *tab, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	require.NoError(b.t, err)
	return v
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(run(b, chromedp.Text(chromedp.CSS(sel))))
}

func (b *tab) location() string {
	b.t.Helper()
	return run(b, chromedp.Location())
}

func (b *tab) count(sel string) int {
	b.t.Helper()
	return run(b, chromedp.Evaluate[int](`document.querySelectorAll(`+jsString(sel)+`).length`))
}

func jsString(s string) string {
	return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
}

// unlabelled lists the page's fields that have no label: every visible
// input and select must have one, for screen readers and for clicking.
func (b *tab) unlabelled() string {
	b.t.Helper()
	return run(b, chromedp.Evaluate[string](`[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
		.filter(e => e.labels.length === 0 && !e.getAttribute('aria-label'))
		.map(e => e.tagName + '#' + e.id + '[name=' + e.name + ']').join(', ')`))
}

// scheme switches the page between light and dark.
func (b *tab) scheme(value string) {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: value}},
		})
		return err
	}))
}

// shot saves a screenshot of the viewport under docs/console.
func (b *tab) shot(name string) {
	b.t.Helper()
	require.Empty(b.t, b.unlabelled(), "%s: fields without a label", name)
	png := run(b, chromedp.FullScreenshot(100))
	require.NoError(b.t, os.MkdirAll(screenshotDir, 0o755))
	require.NoError(b.t, os.WriteFile(filepath.Join(screenshotDir, name+".png"), png, 0o644))
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, data, 0o600))
	return p
}

// TestBrowser_SeedsWorkflow does the seeds' Step 2 in chromium, as a
// person would: sign in, + Keystore, + Alias with the certificate and key
// chosen in the file inputs, read the Expiration Status of a certificate
// that expires in 9 days, deploy an archive and read the failed
// deployment's message; then sign out and, as a viewer, find no write
// control and have a forged write refused.
func TestBrowser_SeedsWorkflow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	b := newTab(t)
	dir := t.TempDir()
	ca := testcerts.New(t, testcerts.Options{CommonName: "Backend CA", IsCA: true})
	leaf := testcerts.New(t, testcerts.Options{CommonName: "mtls.backend.example", Parent: ca,
		NotAfter: time.Now().Add(9*24*time.Hour + time.Hour), DNSNames: []string{"mtls.backend.example"}})
	other := testcerts.New(t, testcerts.Options{CommonName: "someone else"})
	certPath := writeFile(t, dir, "cert.pem", testcerts.Chain(leaf, ca))
	keyPath := writeFile(t, dir, "key.pem", leaf.KeyPEM(t))
	wrongKeyPath := writeFile(t, dir, "wrong-key.pem", other.KeyPEM(t))
	zipPath := writeFile(t, dir, "archive.zip", failingArchive(t))

	// Sign in: / leads to the sign-in page, whose token field is a
	// password field.
	b.do(chromedp.Navigate(f.srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("token")))
	require.Contains(t, b.location(), "/console/signin")
	require.Equal(t, "password", run(b, chromedp.Evaluate[string](`document.getElementById('token').type`)))
	b.shot("signin")
	b.do(chromedp.SendKeys(chromedp.ID("token"), f.srv.Token), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS(`a[href$="/environments/dev/keystores"]`)))
	require.True(t, strings.HasSuffix(b.location(), "/console/organizations/myorg"), b.location())
	// The session token is out of page script's reach.
	require.NotContains(t, run(b, chromedp.Evaluate[string](`document.cookie`)), f.srv.Token)

	// + Keystore.
	b.do(chromedp.Click(chromedp.CSS(`a[href$="/environments/dev/keystores"]`)), chromedp.WaitVisible(chromedp.ID("ks-name")),
		chromedp.SendKeys(chromedp.ID("ks-name"), "backend-ks"), chromedp.Click(chromedp.CSS(`button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`.notice`)))
	require.True(t, strings.HasSuffix(b.location(), dev+"/keystores/backend-ks?notice=Keystore+backend-ks+created."), b.location())

	// + Alias with a key that does not match: the API's refusal shows at
	// the key field, and what was typed stays.
	b.do(chromedp.Click(chromedp.CSS(`a[href$="/keystores/backend-ks/aliases/new"]`)), chromedp.WaitVisible(chromedp.ID("alias")),
		chromedp.SendKeys(chromedp.ID("alias"), "backend"),
		chromedp.SetUploadFiles(chromedp.ID("certFile"), []string{certPath}),
		chromedp.SetUploadFiles(chromedp.ID("keyFile"), []string{wrongKeyPath}),
		chromedp.Click(chromedp.CSS(`#alias-form button.primary`)),
		chromedp.WaitVisible(chromedp.ID("keyFile-err")))
	require.Contains(t, strings.ToLower(b.text("#keyFile-err")), "does not match")
	require.Equal(t, "backend", run(b, chromedp.Value(chromedp.ID("alias"))))
	require.Equal(t, "true", run(b, chromedp.Evaluate[string](`document.getElementById('keyFile').getAttribute('aria-invalid')`)))
	b.shot("alias-new-error")

	// The same form with the right key, chosen through the file inputs.
	b.do(chromedp.SetUploadFiles(chromedp.ID("certFile"), []string{certPath}),
		chromedp.SetUploadFiles(chromedp.ID("keyFile"), []string{keyPath}),
		chromedp.Click(chromedp.CSS(`#alias-form button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`section.cert`)))
	require.True(t, strings.HasPrefix(strings.TrimPrefix(b.location(), f.srv.URL), dev+"/keystores/backend-ks/aliases/backend"), b.location())
	require.Equal(t, "Expires in 9 days", b.text("section.cert .status"))
	require.Contains(t, b.text("section.cert dl"), "Subject alternative names\nmtls.backend.example")
	require.Equal(t, 2, b.count("section.cert"), "the whole chain is shown")
	b.shot("alias")

	// The TLS Keystores page: type, CN, issuer and the Expiration Status
	// in words and colour.
	b.do(chromedp.Navigate(f.srv.URL+dev+"/keystores"), chromedp.WaitVisible(chromedp.CSS(`tbody[data-keystore="backend-ks"]`)))
	row := `tbody[data-keystore="backend-ks"] tr[data-alias="backend"]`
	require.Equal(t, "Certificate and Key", b.text(row+" td:nth-child(2)"))
	require.Equal(t, "mtls.backend.example", b.text(row+" td:nth-child(3)"))
	require.Equal(t, "Backend CA", b.text(row+" td:nth-child(4)"))
	require.Equal(t, "Expires in 9 days", b.text(row+" .status"))
	require.Equal(t, 1, b.count(row+" .status.urgent"))
	urgent := run(b, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('`+row+` .status')).backgroundColor`))
	valid := run(b, chromedp.Evaluate[string](`getComputedStyle(document.querySelector('tr[data-alias="ca"] .status')).backgroundColor`))
	require.NotEqual(t, urgent, valid, "the status is coloured by how soon it expires")
	b.shot("keystores")
	b.scheme("dark")
	darkBg := run(b, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	require.Equal(t, "rgb(20, 23, 28)", darkBg, "dark mode follows the system setting")
	b.shot("keystores-dark")
	b.scheme("light")
	// A narrow window: the page fits its width.
	b.do(chromedp.EmulateViewport(420, 900))
	wide := run(b, chromedp.Evaluate[string](`[...document.querySelectorAll('body *')].filter(e => !e.closest('.table-wrap') && e.getBoundingClientRect().right > 421).slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).join('; ')`))
	require.LessOrEqual(t, run(b, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)), 420, "wider than the window: %s", wide)
	b.shot("keystores-narrow")
	b.do(chromedp.EmulateViewport(1280, 900))

	// Deploy with nothing chosen: the page's script sends the form with
	// its progress bar and shows the refusal without leaving the page.
	b.do(chromedp.Navigate(f.srv.URL+dev+"/archiveDeployments"), chromedp.WaitVisible(chromedp.ID("archive")),
		chromedp.Click(chromedp.CSS(`#deploy-form button.primary`)),
		chromedp.WaitVisible(chromedp.CSS(`#upload-status.error`)))
	require.Equal(t, "Archive: choose a zip file or a folder", b.text("#upload-status"))
	require.Equal(t, 100, run(b, chromedp.Evaluate[int](`document.getElementById('upload-progress').value`)))
	require.False(t, run(b, chromedp.Evaluate[bool](`document.getElementById('upload-progress').hidden`)))
	require.True(t, strings.HasSuffix(b.location(), dev+"/archiveDeployments"), b.location())

	// Deploy an archive by choosing its zip: the page follows the
	// operation until it is done, then shows the failure verbatim.
	b.do(chromedp.Navigate(f.srv.URL+dev+"/archiveDeployments"), chromedp.WaitVisible(chromedp.ID("archive")),
		chromedp.SetUploadFiles(chromedp.ID("archive"), []string{zipPath}),
		chromedp.Click(chromedp.CSS(`#deploy-form button.primary`)),
		chromedp.WaitVisible(chromedp.ID("op-error")))
	require.Contains(t, b.location(), "/console/organizations/myorg/operations/")
	require.Equal(t, seedFailure, b.text("#op-error"))
	require.Contains(t, b.text("#op-state"), "FINISHED")
	b.shot("operation")
	b.do(chromedp.Navigate(f.srv.URL+dev+"/archiveDeployments"), chromedp.WaitVisible(chromedp.CSS(`pre.message`)))
	require.Equal(t, seedFailure, b.text(`pre.message`))
	b.shot("deployments")

	// The organization's expiry view: table and timeline.
	b.do(chromedp.Navigate(f.srv.URL+org+"/certificates"), chromedp.WaitVisible(chromedp.CSS(`figure.timeline svg`)))
	require.Equal(t, "Expires in 9 days", b.text(`table.certificates tbody tr:first-child .status`))
	require.GreaterOrEqual(t, b.count(`svg circle.dot.urgent`), 2)
	require.Equal(t, 1, b.count(`svg line.mark.urgent`), "the 14-day mark")
	require.Equal(t, 1, b.count(`svg line.mark.soon`), "the 30-day mark")
	b.shot("certificates")

	b.do(chromedp.Navigate(f.srv.URL+dev+"/targetservers/t"), chromedp.WaitVisible(chromedp.ID("ssl-keystore")))
	require.Equal(t, "ref://r", run(b, chromedp.Value(chromedp.ID("ssl-keystore"))))
	b.shot("targetserver")
	b.do(chromedp.Navigate(f.srv.URL+dev+"/references"), chromedp.WaitVisible(chromedp.CSS(`tr[data-reference="r"]`)))
	b.shot("references")

	// Tokens: a new one is shown once.
	b.do(chromedp.Navigate(f.srv.URL+org+"/tokens"), chromedp.WaitVisible(chromedp.ID("role")),
		chromedp.SetValue(chromedp.ID("role"), "viewer"), chromedp.Submit(chromedp.ID("role")),
		chromedp.WaitVisible(chromedp.ID("new-token")))
	viewerToken := run(b, chromedp.Value(chromedp.ID("new-token")))
	require.True(t, strings.HasPrefix(viewerToken, "kp_"), viewerToken)
	b.shot("tokens")
	b.do(chromedp.Navigate(f.srv.URL+org+"/tokens"), chromedp.WaitVisible(chromedp.ID("role")))
	require.Equal(t, 0, b.count("#new-token"), "the token is shown only once")

	// Sign out, then sign in as the viewer.
	b.do(chromedp.Click(chromedp.CSS(`form.signout button`)), chromedp.WaitVisible(chromedp.ID("token")))
	b.do(chromedp.Navigate(f.srv.URL+dev+"/keystores"), chromedp.WaitVisible(chromedp.ID("token")))
	require.Contains(t, b.location(), "/console/signin", "signed out")
	b.do(chromedp.SendKeys(chromedp.ID("token"), viewerToken), chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS(`tbody[data-keystore="backend-ks"]`)))
	for _, path := range []string{dev + "/keystores", dev + "/keystores/backend-ks", dev + "/keystores/backend-ks/aliases/backend",
		dev + "/references", dev + "/targetservers", dev + "/targetservers/t", dev + "/archiveDeployments", org + "/certificates"} {
		b.do(chromedp.Navigate(f.srv.URL+path), chromedp.WaitVisible(chromedp.CSS(`main h1`)))
		require.Equal(t, 1, b.count(`form[method="post"]`), "%s: the viewer's only form is sign-out", path)
		require.Equal(t, 0, b.count(`main form:not([method="get"]) input:enabled:not([type=hidden]):not([readonly]), main div.card input:enabled`),
			"%s: no field to change anything", path)
		require.Equal(t, 0, b.count(`a[href$="/delete"], a[href$="/aliases/new"], a[href$="/targetservers/new"]`), path)
	}
	b.do(chromedp.Navigate(f.srv.URL+dev+"/keystores"), chromedp.WaitVisible(chromedp.CSS(`tbody[data-keystore="backend-ks"]`)))
	b.shot("keystores-viewer")
	// A forged write, sent from the page with the session's own CSRF
	// token: the API refuses it and nothing is created.
	status := run(b, chromedp.Evaluate[string](`(async () => {
		const body = new URLSearchParams({name: "forged", csrf: document.querySelector('form.signout input[name=csrf]').value});
		const r = await fetch("`+dev+`/keystores", {method: "POST", body});
		return r.status + " " + (await r.text());
	})()`, chromedp.EvalAwaitPromise))
	require.True(t, strings.HasPrefix(status, "403 "), status)
	require.Contains(t, status, "a viewer token may only read")
	names, err := f.admin.ListKeystores(context.Background(), "myorg", "dev")
	require.NoError(t, err)
	require.NotContains(t, names, "forged")
	require.Contains(t, names, "backend-ks")
	_, err = f.admin.GetAlias(context.Background(), "myorg", "dev", "backend-ks", "backend")
	require.NoError(t, err)

	// Without the CSRF token, the console refuses before the API is asked.
	status = run(b, chromedp.Evaluate[string](`(async () => {
		const r = await fetch("`+dev+`/keystores", {method: "POST", body: new URLSearchParams({name: "forged2"})});
		return r.status + " " + (await r.text());
	})()`, chromedp.EvalAwaitPromise))
	require.True(t, strings.HasPrefix(status, "403 "), status)
	require.Contains(t, status, "CSRF")
}
