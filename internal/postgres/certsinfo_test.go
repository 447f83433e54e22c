package postgres_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/internal/pgtest"
	"github.com/keyplane/keyplane/internal/postgres"
)

// certsInfoCases are certificate facts as aliases store them, the tricky
// strings included.
var certsInfoCases = map[string][]keyplane.CertInfo{
	"leaf and intermediate": {
		{Version: 3, Subject: "CN=leaf, O=Example, C=US", Issuer: "CN=inter", ExpiryDate: 2111824756000, ValidFrom: 1796201956000,
			IsValid: "Yes", SubjectAlternativeNames: []string{"api.example.com", "*.example.com"}, SigAlgName: "SHA256-RSA",
			PublicKey: "RSA Public Key, 2048 bits", BasicConstraints: "CA:FALSE", SerialNumber: "cc:6c:88:55"},
		{Version: 3, Subject: "CN=inter", Issuer: "CN=root", ExpiryDate: -1, ValidFrom: 0, IsValid: "No",
			SigAlgName: "ECDSA-SHA256", PublicKey: "EC Public Key, 256 bits", BasicConstraints: "CA:TRUE"},
	},
	"non-ASCII names": {{Version: 1, Subject: "CN=Zoë Ñandú, O=株式会社, L=🙂", Issuer: "CN=Zoë", SubjectAlternativeNames: []string{"bücher.example"}}},
	"escapes":         {{Subject: `CN="Quoted, Inc", O=back\slash`, Issuer: "tab\there\nline", SerialNumber: "\u2028"}},
	"empty":           {},
	"none":            nil,
}

// TestScanCertsInfo_ReadsWhatPostgreSQLPrintsAsEncodingJSONDoes stores each
// case as aliases.certs_info is stored (marshalCertsInfo into jsonb),
// reads PostgreSQL's text back, and checks that the fast path takes the
// ordinary cases and decodes every case exactly as encoding/json does.
func TestScanCertsInfo_ReadsWhatPostgreSQLPrintsAsEncodingJSONDoes(t *testing.T) {
	db, err := postgres.Open(context.Background(), pgtest.URL(t))
	require.NoError(t, err)
	defer db.Close()
	for name, info := range certsInfoCases {
		t.Run(name, func(t *testing.T) {
			stored, err := postgres.MarshalCertsInfo(info)
			require.NoError(t, err)
			var text []byte
			require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT $1::jsonb`, stored).Scan(&text))
			want, err := postgres.UnmarshalCertsInfoJSON(text)
			require.NoError(t, err)
			got, ok := postgres.ScanCertsInfo(text)
			if name != "escapes" {
				require.True(t, ok, "the fast path reads %s", text)
			}
			if ok {
				require.Equal(t, want, got, "%s", text)
			}
			decoded, err := postgres.UnmarshalCertsInfo(text)
			require.NoError(t, err)
			require.Equal(t, want, decoded)
			require.Equal(t, info == nil, decoded == nil, "null stays nil, [] stays empty")
		})
	}
}

// TestScanCertsInfo_LeavesTheUnusualToEncodingJSON lists inputs the fast
// path must not take, because encoding/json reads them in ways it does not
// (or refuses them).
func TestScanCertsInfo_LeavesTheUnusualToEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`[{"Subject": "CN=x"}]`,               // encoding/json matches keys without case
		`[{"extra": 1}]`,                      // unknown keys are skipped
		`[{"version": 3.0}]`,                  // not an integer
		`[{"version": 03}]`,                   // not JSON
		`[{"expiryDate": 5}]`,                 // ",string" wants quotes
		`[{"expiryDate": "05"}]`,              // not a JSON number inside
		`[{"version": 99999999999999999999}]`, // overflows
		`[{"subjectAlternativeNames": null}]`, // null list
		"[{\"subject\": \"\xff\"}]",           // invalid UTF-8 is replaced
		`[{"subject": "a\"b"}]`,               // escapes
		`[{"subject": "x"}] x`,                // trailing garbage
		`[{"subject": "x"},]`,                 // trailing comma
		`{"subject": "x"}`,                    // not a list
		`[{"subject": "x"}`,                   // cut short
	} {
		_, ok := postgres.ScanCertsInfo([]byte(in))
		require.False(t, ok, in)
	}
}

// FuzzScanCertsInfo_AgreesWithEncodingJSON checks that whatever the fast
// path accepts, encoding/json accepts and decodes to the same value.
func FuzzScanCertsInfo_AgreesWithEncodingJSON(f *testing.F) {
	for _, info := range certsInfoCases {
		b, err := postgres.MarshalCertsInfo(info)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`[{"issuer": "CN=a", "isValid": "Yes", "subject": "CN=b", "version": 3, "validFrom": "1", "expiryDate": "-2", "subjectAlternativeNames": ["x", "y"]}]`))
	f.Add([]byte(` null `))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := postgres.ScanCertsInfo(b)
		if !ok {
			return
		}
		want, err := postgres.UnmarshalCertsInfoJSON(b)
		if err != nil {
			t.Fatalf("fast path accepted what encoding/json refuses (%v): %q", err, b)
		}
		require.Equal(t, want, got, "%q", b)
	})
}
