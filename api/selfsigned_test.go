package api

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSelfSignedCertRequest_ReadsEveryClientsSpelling(t *testing.T) {
	for _, tc := range []struct{ name, body string }{
		{"apigeecli", `{"subject":{"commonName":"a"},"keySize":"2048","sigAlg":"SHA256withRSA","subjectAlternativeDNSNames":["x","y"],"certValidityInDays":"30"}`},
		{"terraform", `{"alias":"al","subject":{"commonName":"a"},"keySize":"2048","sigAlg":"SHA256withRSA","subjectAlternativeDnsNames":{"subjectAlternativeName":["x","y"]},"certValidityInDays":30}`},
		{"proto names", `{"subject":{"common_name":"a"},"key_size":2048,"sig_alg":"SHA256withRSA","subject_alternative_dns_names":{"subject_alternative_name":["x","y"]},"cert_validity_in_days":30}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r SelfSignedCertRequest
			require.NoError(t, json.Unmarshal([]byte(tc.body), &r))
			require.Equal(t, "a", r.Subject.CommonName)
			require.Equal(t, "2048", r.KeySize)
			require.Equal(t, "SHA256withRSA", r.SigAlg)
			require.Equal(t, 30, r.CertValidityInDays)
			require.Equal(t, []string{"x", "y"}, r.SubjectAlternativeDNSNames.SubjectAlternativeName)
		})
	}
	var one SelfSignedCertRequest
	require.NoError(t, json.Unmarshal([]byte(`{"subjectAlternativeDNSNames":{"subjectAlternativeName":"x"},"keySize":null}`), &one))
	require.Equal(t, []string{"x"}, one.SubjectAlternativeDNSNames.SubjectAlternativeName)
	require.Empty(t, one.KeySize)
}

func TestSelfSignedCertRequest_RefusesWhatItCannotRead(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"validity":30}`, `Invalid JSON payload received. Unknown name "validity" at 'certificate_generation_spec': Cannot find field.`},
		{`{"subject":{"cn":"a"}}`, `Invalid JSON payload received. Unknown name "cn" at 'certificate_generation_spec.subject': Cannot find field.`},
		{`{"certValidityInDays":"a year"}`, `Invalid value at 'certificate_generation_spec.cert_validity_in_days' (TYPE_INT32), "a year"`},
		{`{"keySize":20.5}`, `Invalid value at 'certificate_generation_spec.key_size' (TYPE_INT32), 20.5`},
		{`{"subject":{"commonName":5}}`, `Invalid value at 'certificate_generation_spec.subject.common_name' (TYPE_STRING), 5`},
		{`{"subjectAlternativeDNSNames":"x"}`, `Invalid value at 'certificate_generation_spec.subject_alternative_dns_names', "x": a list of names or {"subjectAlternativeName": ...} is required`},
		{`{"subjectAlternativeDNSNames":{"names":["x"]}}`, `Invalid JSON payload received. Unknown name "names" at 'certificate_generation_spec.subject_alternative_dns_names': Cannot find field.`},
		{`{"sigAlg":"a","sig_alg":"b"}`, `Invalid JSON payload received. Field 'certificate_generation_spec.sig_alg' is given twice.`},
	} {
		var r SelfSignedCertRequest
		err := json.Unmarshal([]byte(tc.body), &r)
		var fe *FieldError
		require.ErrorAs(t, err, &fe, tc.body)
		require.Equal(t, tc.want, fe.Message, tc.body)
	}
}
