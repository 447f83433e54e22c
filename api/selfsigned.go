package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// selfSignedNames maps every spelling clients use for the fields of a
// self-signed certificate request to its JSON name: the lowerCamelCase name
// Apigee documents, the proto's snake_case name, and the camel case derived
// from it that Terraform's google provider sends (subjectAlternativeDnsNames).
var selfSignedNames = map[string]string{
	"alias": "alias", "keySize": "keySize", "key_size": "keySize", "sigAlg": "sigAlg", "sig_alg": "sigAlg",
	"subject": "subject", "certValidityInDays": "certValidityInDays", "cert_validity_in_days": "certValidityInDays",
	"subjectAlternativeDNSNames": "subjectAlternativeDNSNames", "subjectAlternativeDnsNames": "subjectAlternativeDNSNames",
	"subject_alternative_dns_names": "subjectAlternativeDNSNames",
}

// subjectNames does the same for the fields of its subject.
var subjectNames = map[string]string{
	"commonName": "commonName", "common_name": "commonName", "countryCode": "countryCode", "country_code": "countryCode",
	"email": "email", "locality": "locality", "org": "org", "orgUnit": "orgUnit", "org_unit": "orgUnit", "state": "state",
}

// FieldError is a request body field that cannot be read; its message
// names the field and says why, in the words Google's transcoding uses.
type FieldError struct{ Message string }

func (e *FieldError) Error() string { return e.Message }

// UnmarshalJSON reads a self-signed certificate request in every form
// Apigee's clients send it: field names in any of their spellings,
// keySize and certValidityInDays as a JSON number or a decimal string
// (apigeecli sends "365", Terraform 365), and subjectAlternativeDNSNames as
// a list of names (apigeecli), as {"subjectAlternativeName": "x"}
// (Terraform) or as {"subjectAlternativeName": ["x", "y"]}. A field the
// request does not have is refused.
func (r *SelfSignedCertRequest) UnmarshalJSON(b []byte) error {
	fields, err := canonicalFields(b, selfSignedNames, "certificate_generation_spec")
	if err != nil {
		return err
	}
	*r = SelfSignedCertRequest{}
	for name, raw := range fields {
		var err error
		switch name {
		case "alias":
			err = readString(raw, "certificate_generation_spec.alias", &r.Alias)
		case "sigAlg":
			err = readString(raw, "certificate_generation_spec.sig_alg", &r.SigAlg)
		case "keySize":
			var n int64
			if n, err = readInt(raw, "certificate_generation_spec.key_size"); err == nil && n != 0 {
				r.KeySize = strconv.FormatInt(n, 10)
			}
		case "certValidityInDays":
			var n int64
			n, err = readInt(raw, "certificate_generation_spec.cert_validity_in_days")
			r.CertValidityInDays = int(n)
		case "subject":
			err = r.Subject.read(raw)
		case "subjectAlternativeDNSNames":
			r.SubjectAlternativeDNSNames, err = readAltNames(raw)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *CertSubject) read(raw json.RawMessage) error {
	fields, err := canonicalFields(raw, subjectNames, "certificate_generation_spec.subject")
	if err != nil {
		return err
	}
	targets := map[string]*string{
		"commonName": &s.CommonName, "countryCode": &s.CountryCode, "email": &s.Email, "locality": &s.Locality,
		"org": &s.Org, "orgUnit": &s.OrgUnit, "state": &s.State,
	}
	for name, raw := range fields {
		if err := readString(raw, "certificate_generation_spec.subject."+snake(name), targets[name]); err != nil {
			return err
		}
	}
	return nil
}

// canonicalFields reads a JSON object and renames its fields by names,
// refusing unknown and repeated ones; null fields are left out.
func canonicalFields(b []byte, names map[string]string, at string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, &FieldError{fmt.Sprintf("Invalid value at '%s': a JSON object is required", at)}
	}
	out := make(map[string]json.RawMessage, len(obj))
	for key, raw := range obj {
		name, ok := names[key]
		if !ok {
			return nil, &FieldError{fmt.Sprintf("Invalid JSON payload received. Unknown name %q at '%s': Cannot find field.", clip(key), at)}
		}
		if _, dup := out[name]; dup {
			return nil, &FieldError{fmt.Sprintf("Invalid JSON payload received. Field '%s.%s' is given twice.", at, snake(name))}
		}
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue
		}
		out[name] = raw
	}
	return out, nil
}

func readString(raw json.RawMessage, field string, dst *string) error {
	if err := json.Unmarshal(raw, dst); err != nil {
		return &FieldError{fmt.Sprintf("Invalid value at '%s' (TYPE_STRING), %s", field, clip(string(raw)))}
	}
	return nil
}

// readInt reads an int32 given as a JSON number or a decimal string.
func readInt(raw json.RawMessage, field string) (int64, error) {
	text := string(bytes.TrimSpace(raw))
	if s, err := strconv.Unquote(text); err == nil {
		text = strings.TrimSpace(s)
	}
	n, err := strconv.ParseInt(text, 10, 32)
	if err != nil {
		return 0, &FieldError{fmt.Sprintf("Invalid value at '%s' (TYPE_INT32), %s", field, clip(string(raw)))}
	}
	return n, nil
}

// readAltNames reads subjectAlternativeDNSNames in any of its three forms.
func readAltNames(raw json.RawMessage) (*SubjectAltDNS, error) {
	const field = "certificate_generation_spec.subject_alternative_dns_names"
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return &SubjectAltDNS{SubjectAlternativeName: list}, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, &FieldError{fmt.Sprintf("Invalid value at '%s', %s: a list of names or {\"subjectAlternativeName\": ...} is required", field, clip(string(raw)))}
	}
	out := &SubjectAltDNS{}
	for key, v := range obj {
		if key != "subjectAlternativeName" && key != "subject_alternative_name" {
			return nil, &FieldError{fmt.Sprintf("Invalid JSON payload received. Unknown name %q at '%s': Cannot find field.", clip(key), field)}
		}
		var one string
		if json.Unmarshal(v, &one) == nil {
			out.SubjectAlternativeName = append(out.SubjectAlternativeName, one)
			continue
		}
		var many []string
		if err := json.Unmarshal(v, &many); err != nil {
			return nil, &FieldError{fmt.Sprintf("Invalid value at '%s.subject_alternative_name' (TYPE_STRING), %s", field, clip(string(v)))}
		}
		out.SubjectAlternativeName = append(out.SubjectAlternativeName, many...)
	}
	return out, nil
}

// snake is a JSON name as its proto name: orgUnit is org_unit.
func snake(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// clip shortens a caller's text quoted in a message.
func clip(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
