package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/keystore"
)

func (s *Server) keystoreRoutes(r chi.Router) {
	r.Post("/keystores", s.createKeystore)
	r.Get("/keystores", s.listKeystores)
	r.Get("/keystores/{ks}", s.getKeystore)
	r.Delete("/keystores/{ks}", s.deleteKeystore)
	r.Post("/keystores/{ks}/aliases", s.createAlias)
	r.Get("/keystores/{ks}/aliases", s.listAliases)
	r.Get("/keystores/{ks}/aliases/{alias}", s.getAlias)
	r.Put("/keystores/{ks}/aliases/{alias}", s.updateAlias)
	r.Delete("/keystores/{ks}/aliases/{alias}", s.deleteAlias)
	r.Get("/keystores/{ks}/aliases/{alias}/certificate", s.aliasCertificate)
	r.Get("/keystores/{ks}/aliases/{alias}/csr", s.aliasCSR)
}

func (s *Server) createKeystore(w http.ResponseWriter, r *http.Request) {
	var ks api.Keystore
	if err := s.decode(r, "Keystore", &ks); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := nameFromQuery(r, &ks.Name); err != nil {
		s.writeError(w, r, err)
		return
	}
	note(r, envName(r)+"/keystores/"+ks.Name)
	out, err := s.cfg.Keystores.CreateKeystore(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), ks.Name)
	s.answer(w, r, http.StatusOK, keystoreToAPI(out), err)
}

func (s *Server) getKeystore(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Keystores.GetKeystore(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ks"))
	s.answer(w, r, http.StatusOK, keystoreToAPI(out), err)
}

func (s *Server) listKeystores(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Keystores.ListKeystores(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"))
	s.answer(w, r, http.StatusOK, out, err)
}

func (s *Server) deleteKeystore(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Keystores.DeleteKeystore(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ks"))
	s.answer(w, r, http.StatusOK, keystoreToAPI(out), err)
}

func (s *Server) createAlias(w http.ResponseWriter, r *http.Request) {
	up, err := s.decodeUpload(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	note(r, envName(r)+"/keystores/"+chi.URLParam(r, "ks")+"/aliases/"+up.Alias)
	out, err := s.cfg.Keystores.CreateAlias(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ks"), up)
	s.answer(w, r, http.StatusOK, aliasToAPI(out), err)
}

// listAliases answers the names of a keystore's aliases as a bare JSON
// array, like every other list of names (apigeecli's keyaliases list).
func (s *Server) listAliases(w http.ResponseWriter, r *http.Request) {
	ks, err := s.cfg.Keystores.GetKeystore(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ks"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.answer(w, r, http.StatusOK, ks.Aliases, nil)
}

func (s *Server) getAlias(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Keystores.GetAlias(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ks"), chi.URLParam(r, "alias"))
	s.answer(w, r, http.StatusOK, aliasToAPI(out), err)
}

func (s *Server) updateAlias(w http.ResponseWriter, r *http.Request) {
	ignoreExpiry, ignoreNewlines, err := aliasFlags(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	certFile := func() ([]byte, error) {
		ct, body, err := s.unwrapBody(r)
		if err != nil {
			return nil, err
		}
		parts, err := multipartParts(ct, body)
		return parts["certFile"], err
	}
	out, err := s.cfg.Keystores.UpdateAlias(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"),
		chi.URLParam(r, "ks"), chi.URLParam(r, "alias"), certFile, ignoreExpiry, ignoreNewlines)
	s.answer(w, r, http.StatusOK, aliasToAPI(out), err)
}

func (s *Server) deleteAlias(w http.ResponseWriter, r *http.Request) {
	out, err := s.cfg.Keystores.DeleteAlias(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ks"), chi.URLParam(r, "alias"))
	s.answer(w, r, http.StatusOK, aliasToAPI(out), err)
}

func (s *Server) aliasCertificate(w http.ResponseWriter, r *http.Request) {
	pem, err := s.cfg.Keystores.Certificate(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ks"), chi.URLParam(r, "alias"))
	s.answerPEM(w, r, pem, err)
}

func (s *Server) aliasCSR(w http.ResponseWriter, r *http.Request) {
	pem, err := s.cfg.Keystores.CSR(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "env"), chi.URLParam(r, "ks"), chi.URLParam(r, "alias"))
	s.answerPEM(w, r, pem, err)
}

func (s *Server) answerPEM(w http.ResponseWriter, r *http.Request, pem []byte, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	_, _ = w.Write(pem)
}

// aliasFlags reads the boolean query parameters of alias uploads from q,
// the request's query, parsed once by the caller.
func aliasFlags(q url.Values) (ignoreExpiry, ignoreNewlines bool, err error) {
	if ignoreExpiry, err = boolValue(q, "ignoreExpiryValidation"); err != nil {
		return false, false, err
	}
	ignoreNewlines, err = boolValue(q, "ignoreNewlineValidation")
	return ignoreExpiry, ignoreNewlines, err
}

func boolQuery(r *http.Request, name string) (bool, error) {
	return boolValue(r.URL.Query(), name)
}

// boolValue reads the boolean parameter name of a parsed query.
func boolValue(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, keyplane.Errorf(keyplane.InvalidArgument, "%s %q is not a boolean (true or false)", name, v)
	}
	return b, nil
}

// decodeUpload reads an alias create request in any of the forms clients
// send: a raw multipart body (curl -F, Terraform), the same body wrapped in
// a google.api.HttpBody (the official Go client), or JSON for self-signed
// certificates, wrapped or not.
func (s *Server) decodeUpload(r *http.Request) (*keystore.Upload, error) {
	q := r.URL.Query()
	// apigeecli sends the password as `password`, the API documents
	// `_password`; both are read and neither is ever logged, stored or
	// echoed (request logs and audit rows carry the path alone).
	password := q.Get("_password")
	if password == "" {
		password = q.Get("password")
	}
	up := &keystore.Upload{Alias: q.Get("alias"), Format: q.Get("format"), Password: password}
	var err error
	if up.IgnoreExpiry, up.IgnoreNewlines, err = aliasFlags(q); err != nil {
		return nil, err
	}
	ct, body, err := s.unwrapBody(r)
	if err != nil {
		return nil, err
	}
	if up.Format == keystore.FormatSelfSignedCert {
		var req api.SelfSignedCertRequest
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "format=selfsignedcert needs a JSON body (Content-Type: application/json), not %q", ct)
		}
		if err := unmarshal(body, &req); err != nil {
			return nil, err
		}
		up.SelfSigned = selfSignedFromAPI(&req)
		return up, nil
	}
	parts, err := multipartParts(ct, body)
	if err != nil {
		return nil, err
	}
	up.CertPEM, up.KeyPEM, up.PKCS12 = parts["certFile"], parts["keyFile"], parts["file"]
	if pw, ok := parts["password"]; ok {
		up.Password = string(pw)
	}
	return up, nil
}

// httpBody is a google.api.HttpBody, the JSON envelope in which the official
// clients send a body of another content type.
type httpBody struct {
	ContentType string `json:"contentType"`
	Data        string `json:"data"`
}

// unwrapBody reads the request body and, when it is a google.api.HttpBody
// envelope, returns the content type and bytes it carries instead.
func (s *Server) unwrapBody(r *http.Request) (string, []byte, error) {
	body, err := readUpload(r, s.cfg.MaxBodyBytes)
	if err != nil {
		return "", nil, err
	}
	return unwrapHTTPBody(r.Header.Get("Content-Type"), body)
}

// preallocateMax is the largest declared body readUpload reads into a
// buffer made in advance; keys and certificates are a few kilobytes.
const preallocateMax = 256 << 10

// readUpload reads a request body as readBody does, with the same limit
// and errors, but into one buffer of the length the request declares when
// it declares one within the limit, as every upload client does: reading
// an upload of a few kilobytes into a growing buffer copied it several
// times over, garbage the collector then paid for on every upload.
//
// The buffer is made before a byte arrives, so only a declared length
// under preallocateMax is trusted with one: a client announcing a large
// body and sending nothing must not make the server hold the memory.
func readUpload(r *http.Request, limit int64) ([]byte, error) {
	n := r.ContentLength
	if n < 0 || n > limit || n > preallocateMax {
		return readBody(r, limit)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "cannot read request body: %v", err)
	}
	return body, nil
}

// unwrapHTTPBody returns the content type and bytes a google.api.HttpBody
// envelope carries, or ct and body as they are when body is not one.
func unwrapHTTPBody(ct string, body []byte) (string, []byte, error) {
	if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
		return ct, body, nil
	}
	var env httpBody
	if json.Unmarshal(body, &env) != nil || env.ContentType == "" {
		return ct, body, nil
	}
	data, err := base64.StdEncoding.DecodeString(env.Data)
	if err != nil {
		if data, err = base64.URLEncoding.DecodeString(env.Data); err != nil {
			return "", nil, keyplane.Errorf(keyplane.InvalidArgument, "data of the HttpBody is not valid base64")
		}
	}
	return env.ContentType, data, nil
}

// Limits of a multipart alias upload: the parts keyplane reads are small.
const (
	maxParts = 16
)

// multipartParts reads the parts of a multipart/form-data body by name.
func multipartParts(ct string, body []byte) (map[string][]byte, error) {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/form-data" {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "body must be multipart/form-data, not %q", ct)
	}
	if params["boundary"] == "" {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "multipart/form-data content type has no boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	parts := map[string][]byte{}
	// The parts are read into one buffer, each into its own span of it:
	// together they are no longer than the body they come from, so the
	// buffer is allocated once.
	buf := make([]byte, 0, len(body))
	for n := 0; ; n++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "multipart body is malformed: %v", err)
		}
		if n == maxParts {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "multipart body has more than %d parts", maxParts)
		}
		start := len(buf)
		buf, err = readAppend(buf, p)
		if err != nil {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "multipart part %q is malformed: %v", p.FormName(), err)
		}
		name := p.FormName()
		if _, dup := parts[name]; dup {
			return nil, keyplane.Errorf(keyplane.InvalidArgument, "multipart part %q appears more than once", name)
		}
		parts[name] = buf[start:len(buf):len(buf)]
	}
	return parts, nil
}

// readAppend appends what r yields until EOF to buf, as io.ReadAll does to
// an empty slice.
func readAppend(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
