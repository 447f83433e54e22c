package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/servertest"
	"github.com/keyplane/keyplane/internal/testcerts"
)

const (
	day          = 24 * time.Hour
	certsPath    = "/v1/organizations/myorg/certificates"
	prodEnvPath  = "/v1/organizations/myorg/environments/prod"
	liveKeystore = `{"enabled":true,"clientAuthEnabled":true,"keyStore":"deployed-ks","keyAlias":"gw","trustStore":"trust"}`
)

// expiryBundle is an organization whose certificates expire at known
// times, some used by the live deployment of dev, one by a reference of
// prod, and one (expired) by nothing.
type expiryBundle struct {
	*testBundle
	ca, gateway, old, spare *testcerts.Cert
	// deployment is the resource name of dev's live deployment.
	deployment string
}

// expirySetup creates, in order (alias ids grow in this order):
//
//	dev/idle/old          expired an hour ago, used by nothing
//	dev/deployed-ks/gw    gateway (10 days) signed by ca (400 days), key alias of the live deployment
//	dev/trust/ca          ca (400 days), truststore of the live deployment
//	prod/ref-only/spare   20 days, referred to by prod's reference spare-ref
//
// and, in organization otherorg, an alias expiring tomorrow that myorg
// never sees.
func expirySetup(t *testing.T) *expiryBundle {
	t.Helper()
	b := &expiryBundle{testBundle: setupEnv(t, "CONFIGURABLE")}
	now := time.Now()
	b.ca = testcerts.New(t, testcerts.Options{CommonName: "ca", IsCA: true, NotAfter: now.Add(400*day + time.Hour)})
	b.gateway = testcerts.New(t, testcerts.Options{CommonName: "gateway", Parent: b.ca, NotAfter: now.Add(10*day + time.Hour)})
	b.old = testcerts.New(t, testcerts.Options{CommonName: "old", NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)})
	b.spare = testcerts.New(t, testcerts.Options{CommonName: "spare", NotAfter: now.Add(20*day + time.Hour)})

	for _, ks := range []string{"idle", "deployed-ks", "trust"} {
		b.c.ok("POST", envPath+"/keystores", `{"name":"`+ks+`"}`)
	}
	b.uploadAlias(t, "idle", "old", false, b.old)
	b.uploadAlias(t, "deployed-ks", "gw", true, b.gateway, b.ca)
	b.uploadAlias(t, "trust", "ca", false, b.ca)

	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"prod","deploymentType":"ARCHIVE","apiProxyType":"PROGRAMMABLE"}`)
	b.c.ok("POST", prodEnvPath+"/keystores", `{"name":"ref-only"}`)
	b.uploadAliasIn(t, prodEnvPath, "ref-only", "spare", true, b.spare)
	b.c.ok("POST", prodEnvPath+"/references", `{"name":"spare-ref","resourceType":"KeyStore","refers":"ref-only"}`)

	op := b.deploy(t, mtlsArchive(t, liveKeystore))
	require.Nil(t, op.Error, "%+v", op.Error)
	b.deployment = decode[api.ArchiveDeployment](t, op.Response).Name

	b.c.ok("POST", "/v1/organizations", `{"name":"otherorg"}`)
	b.c.ok("POST", "/v1/organizations/otherorg/environments", `{"name":"dev","deploymentType":"ARCHIVE","apiProxyType":"PROGRAMMABLE"}`)
	b.c.ok("POST", "/v1/organizations/otherorg/environments/dev/keystores", `{"name":"ks"}`)
	soon := testcerts.New(t, testcerts.Options{CommonName: "soon", NotAfter: now.Add(day)})
	b.uploadAliasIn(t, "/v1/organizations/otherorg/environments/dev", "ks", "soon", false, soon)
	return b
}

// entry is what the expiry view must say of certificate index of an alias,
// with the subject, issuer and serial number its alias GET reports.
func (b *expiryBundle) entry(t *testing.T, env, ks, alias string, index int, daysLeft int, deployments, references []string) api.CertificateExpiry {
	t.Helper()
	name := "organizations/myorg/environments/" + env + "/keystores/" + ks + "/aliases/" + alias
	info := decode[api.Alias](t, b.c.ok("GET", "/v1/"+name, "")).CertsInfo.CertInfo[index]
	return api.CertificateExpiry{
		Name: name, Environment: env, Keystore: ks, Alias: alias, Index: index,
		Subject: info.Subject, Issuer: info.Issuer, SerialNumber: info.SerialNumber, ExpiryDate: info.ExpiryDate,
		DaysLeft: daysLeft, Expired: daysLeft < 0,
		UsedBy: api.CertificateUsers{Deployments: deployments, References: references},
		InUse:  len(deployments)+len(references) > 0,
	}
}

func (b *expiryBundle) list(t *testing.T, c *client, query string) api.ListCertificatesResponse {
	t.Helper()
	return decode[api.ListCertificatesResponse](t, c.ok("GET", certsPath+query, ""))
}

func TestCertificates_ListsEveryCertificateSoonestFirstWithItsUsers(t *testing.T) {
	t.Parallel()
	b := expirySetup(t)
	none := []string{}
	live := []string{b.deployment}
	old := b.entry(t, "dev", "idle", "old", 0, -1, none, none)
	gw := b.entry(t, "dev", "deployed-ks", "gw", 0, 10, live, none)
	spare := b.entry(t, "prod", "ref-only", "spare", 0, 20, none, []string{"organizations/myorg/environments/prod/references/spare-ref"})
	gwCA := b.entry(t, "dev", "deployed-ks", "gw", 1, 400, live, none)
	trustCA := b.entry(t, "dev", "trust", "ca", 0, 400, live, none)
	all := []api.CertificateExpiry{old, gw, spare, gwCA, trustCA}
	require.Equal(t, b.gateway.Cert.NotAfter.UnixMilli(), gw.ExpiryDate)
	require.Equal(t, gwCA.ExpiryDate, trustCA.ExpiryDate, "a tie, broken by alias")

	require.Equal(t, api.ListCertificatesResponse{Certificates: all}, b.list(t, b.c, ""))

	// The window keeps what expires within it, the expired included.
	require.Equal(t, []api.CertificateExpiry{old, gw}, b.list(t, b.c, "?expiringWithin=15d").Certificates)
	require.Equal(t, []api.CertificateExpiry{old, gw}, b.list(t, b.c, "?expiringWithin=360h").Certificates)
	require.Equal(t, []api.CertificateExpiry{old}, b.list(t, b.c, "?expiringWithin=0s").Certificates)
	require.Equal(t, all, b.list(t, b.c, "?expiringWithin=36500d").Certificates)

	// Pages follow each other without gaps or repeats, across the tie.
	for _, size := range []int{1, 2, 4} {
		var got []api.CertificateExpiry
		token, pages := "", 0
		for {
			q := url.Values{"pageSize": {strconv.Itoa(size)}}
			if token != "" {
				q.Set("pageToken", token)
			}
			page := b.list(t, b.c, "?"+q.Encode())
			require.LessOrEqual(t, len(page.Certificates), size)
			got = append(got, page.Certificates...)
			pages++
			if token = page.NextPageToken; token == "" {
				break
			}
		}
		require.Equal(t, all, got, "pageSize %d", size)
		require.Equal(t, (len(all)+size-1)/size, pages, "pageSize %d", size)
	}
	// The window applies to every page.
	first := b.list(t, b.c, "?pageSize=1&expiringWithin=15d")
	require.Equal(t, []api.CertificateExpiry{old}, first.Certificates)
	require.NotEmpty(t, first.NextPageToken)
	require.Equal(t, api.ListCertificatesResponse{Certificates: []api.CertificateExpiry{gw}},
		b.list(t, b.c, "?pageSize=1&expiringWithin=15d&pageToken="+first.NextPageToken))

	// A viewer may read it; other organizations' certificates never show.
	viewer := b.as(t, b.token(t, "myorg", "viewer"))
	require.Equal(t, all, b.list(t, viewer, "").Certificates)
	other := decode[api.ListCertificatesResponse](t, b.c.ok("GET", "/v1/organizations/otherorg/certificates", ""))
	require.Len(t, other.Certificates, 1)
	require.Equal(t, "organizations/otherorg/environments/dev/keystores/ks/aliases/soon", other.Certificates[0].Name)
	require.False(t, other.Certificates[0].InUse)
	b.c.ok("POST", "/v1/organizations", `{"name":"emptyorg"}`)
	require.JSONEq(t, `{"certificates":[]}`, string(b.c.ok("GET", "/v1/organizations/emptyorg/certificates", "")))
}

func TestCertificates_FollowAliasChangesAndReferences(t *testing.T) {
	t.Parallel()
	b := expirySetup(t)

	// A deleted alias leaves the view.
	b.c.ok("DELETE", envPath+"/keystores/idle/aliases/old", "")
	got := b.list(t, b.c, "")
	require.Len(t, got.Certificates, 4)
	require.Equal(t, "gw", got.Certificates[0].Alias)

	// A renewed certificate replaces the old one's entry: one entry, the
	// new expiry, now the soonest.
	renewed := testcerts.WithKey(t, testcerts.Options{CommonName: "spare", NotAfter: time.Now().Add(5*day + time.Hour)}, b.spare.Key)
	ct, body := multipartBody(t, [2]string{"certFile", string(renewed.CertPEM())})
	r := b.c.send("PUT", prodEnvPath+"/keystores/ref-only/aliases/spare", ct, body)
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	got = b.list(t, b.c, "")
	require.Len(t, got.Certificates, 4)
	require.Equal(t, "spare", got.Certificates[0].Alias)
	require.Equal(t, renewed.Cert.NotAfter.UnixMilli(), got.Certificates[0].ExpiryDate)
	require.Equal(t, 5, got.Certificates[0].DaysLeft)
	require.Equal(t, b.entry(t, "prod", "ref-only", "spare", 0, 5, []string{}, []string{"organizations/myorg/environments/prod/references/spare-ref"}),
		got.Certificates[0])

	// Without its reference, nothing uses it any more.
	b.c.ok("DELETE", prodEnvPath+"/references/spare-ref", "")
	got = b.list(t, b.c, "?expiringWithin=7d")
	require.Len(t, got.Certificates, 1)
	require.False(t, got.Certificates[0].InUse)
	require.Equal(t, api.CertificateUsers{Deployments: []string{}, References: []string{}}, got.Certificates[0].UsedBy)

	// A deleted keystore takes its aliases' certificates along.
	b.c.ok("DELETE", prodEnvPath+"/keystores/ref-only", "")
	require.Empty(t, b.list(t, b.c, "?expiringWithin=7d").Certificates)
	require.Len(t, b.list(t, b.c, "").Certificates, 3)
}

func TestCertificates_BadParametersAreRefused(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	crafted := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		query, message string
	}{
		{"?expiringWithin=soon", `expiringWithin "soon" is invalid: want a duration such as 720h or 30d`},
		{"?expiringWithin=30", `expiringWithin "30" is invalid: want a duration such as 720h or 30d`},
		{"?expiringWithin=1.5d", `expiringWithin "1.5d" is invalid: want a duration such as 720h or 30d`},
		{"?expiringWithin=-1h", `expiringWithin "-1h" is invalid: it must not be negative`},
		{"?expiringWithin=-2d", `expiringWithin "-2d" is invalid: it must not be negative`},
		{"?expiringWithin=106752d", `expiringWithin "106752d" is invalid: it is longer than the longest duration, about 292 years`},
		{"?pageSize=ten", `pageSize "ten" is not a number`},
		{"?pageSize=-1", `pageSize must not be negative`},
		{"?pageToken=%21%21", `pageToken is invalid`},
		{"?pageToken=" + crafted("1700000000000000|x"), `pageToken is invalid`},
		{"?pageToken=" + crafted("1700000000000000|1"), `pageToken is invalid`},
		{"?pageToken=" + crafted("1700000000000000|0.0"), `pageToken is invalid`},
		{"?pageToken=" + crafted("1700000000000000|5.-1"), `pageToken is invalid`},
		{"?pageToken=" + crafted("soon|5.0"), `pageToken is invalid`},
	} {
		b.c.fails("GET", certsPath+tc.query, "", http.StatusBadRequest, "INVALID_ARGUMENT", tc.message)
	}
	// A well-formed token of a position past every certificate is an
	// empty page, not an error.
	require.JSONEq(t, `{"certificates":[]}`, string(b.c.ok("GET", certsPath+"?pageToken="+crafted("1700000000000000|5.0"), "")))
	b.c.fails("GET", "/v1/organizations/nosuchorg/certificates", "", http.StatusNotFound, "NOT_FOUND", `organization "nosuchorg" not found`)
}

func TestMetrics_CertificateExpiryGaugeHasEveryAliasEarliestExpiry(t *testing.T) {
	t.Parallel()
	b := expirySetup(t)
	families := b.srv.Scrape(t)
	family := families["keyplane_certificate_expiry_timestamp_seconds"]
	require.NotNil(t, family, "the gauge is exported")
	require.Equal(t, "GAUGE", family.GetType().String())
	got := map[string]float64{}
	for _, m := range family.GetMetric() {
		labels := servertest.Labels(m)
		require.Len(t, labels, 4, "labels are org, env, keystore and alias: %v", labels)
		got[labels["org"]+"/"+labels["env"]+"/"+labels["keystore"]+"/"+labels["alias"]] = m.GetGauge().GetValue()
	}
	unix := func(c *testcerts.Cert) float64 { return float64(c.Cert.NotAfter.Unix()) }
	require.Equal(t, map[string]float64{
		"myorg/dev/idle/old":        unix(b.old),
		"myorg/dev/deployed-ks/gw":  unix(b.gateway), // the chain's earliest: the leaf, not its CA
		"myorg/dev/trust/ca":        unix(b.ca),
		"myorg/prod/ref-only/spare": unix(b.spare),
		"otherorg/dev/ks/soon":      got["otherorg/dev/ks/soon"],
	}, got)
	require.Greater(t, got["otherorg/dev/ks/soon"], float64(time.Now().Unix()))

	refreshed := families["keyplane_certificate_expiry_refresh_timestamp_seconds"]
	require.NotNil(t, refreshed)
	require.InDelta(t, float64(time.Now().Unix()), refreshed.GetMetric()[0].GetGauge().GetValue(), 60)
	require.Zero(t, families["keyplane_certificate_expiry_refresh_failures_total"].GetMetric()[0].GetCounter().GetValue())
}
