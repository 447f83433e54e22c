package bench

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"mime/multipart"
	"runtime"
	"sync"
	"time"
)

// chain is one leaf certificate with its key and intermediate, ready to be
// uploaded as a keycertfile alias.
type chain struct {
	RSA bool
	// Body and ContentType are the multipart request of the upload: certFile
	// (leaf, then intermediate) and keyFile (PKCS#8). The alias name travels
	// in the query, so one body serves every alias made from this chain.
	Body        []byte
	ContentType string
	// CertPEM and KeyPEM are the two files of Body, for the in-process
	// baseline of what the server must do with them.
	CertPEM, KeyPEM []byte
}

// certPool is a few distinct certificate chains, reused across aliases:
// generating a key per alias would take longer than the benchmark itself,
// and the server's cost does not depend on whether two aliases share a key.
type certPool struct {
	// RootPEM is the CA that signs both intermediates, for the truststore.
	RootPEM []byte
	RSA     []*chain
	EC      []*chain
}

// issued is a certificate and its key.
type issued struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// newCertPool makes an RSA-2048 root, an RSA-2048 and an EC P-256
// intermediate under it, and nRSA RSA-2048 and nEC EC P-256 leaves under the
// intermediate of their kind.
func newCertPool(nRSA, nEC int) (*certPool, error) {
	root, err := issue(true, "keyplane bench root CA", true, nil)
	if err != nil {
		return nil, err
	}
	rsaCA, err := issue(true, "keyplane bench RSA intermediate", true, root)
	if err != nil {
		return nil, err
	}
	ecCA, err := issue(false, "keyplane bench EC intermediate", true, root)
	if err != nil {
		return nil, err
	}
	p := &certPool{RootPEM: certPEM(root.cert), RSA: make([]*chain, nRSA), EC: make([]*chain, nEC)}
	// Key generation is the slow part (RSA-2048): one goroutine per CPU.
	var wg sync.WaitGroup
	errs := make([]error, nRSA+nEC)
	sem := make(chan struct{}, runtime.NumCPU())
	for i := range nRSA + nEC {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			isRSA, parent, slot, n := i < nRSA, ecCA, p.EC, i-nRSA
			if isRSA {
				parent, slot, n = rsaCA, p.RSA, i
			}
			leaf, err := issue(isRSA, fmt.Sprintf("leaf-%03d.bench.keyplane.test", i), false, parent)
			if err == nil {
				slot[n], err = newChain(isRSA, leaf, parent)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// issue makes a certificate valid from an hour ago for ten years (CAs) or
// one year (leaves), signed by parent, or self-signed when parent is nil.
// Each option edits the template last, such as to name other hosts.
func issue(isRSA bool, cn string, isCA bool, parent *issued, options ...func(*x509.Certificate)) (*issued, error) {
	var key crypto.Signer
	var err error
	if isRSA {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		return nil, err
	}
	notAfter := time.Now().AddDate(1, 0, 0)
	if isCA {
		notAfter = time.Now().AddDate(10, 0, 0)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"keyplane benchmark"}, Country: []string{"US"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              notAfter,
		IsCA:                  isCA,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.DNSNames = []string{cn, "www." + cn}
	}
	for _, o := range options {
		o(tmpl)
	}
	parentCert, signer := tmpl, key
	if parent != nil {
		parentCert, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &issued{cert: cert, key: key}, nil
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// keyPEM encodes key as PKCS#8 PEM.
func keyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// newChain encodes the upload of leaf (with its key) and its intermediate.
func newChain(isRSA bool, leaf, intermediate *issued) (*chain, error) {
	keyFile, err := keyPEM(leaf.key)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	certFile := append(certPEM(leaf.cert), certPEM(intermediate.cert)...)
	for _, part := range []struct {
		name string
		data []byte
	}{
		{"certFile", certFile},
		{"keyFile", keyFile},
	} {
		fw, err := w.CreateFormFile(part.name, part.name+".pem")
		if err != nil {
			return nil, err
		}
		if _, err := fw.Write(part.data); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return &chain{RSA: isRSA, Body: buf.Bytes(), ContentType: w.FormDataContentType(), CertPEM: certFile, KeyPEM: keyFile}, nil
}

// certOnlyUpload is the multipart body of a certificate-only alias.
func certOnlyUpload(certPEM []byte) (body []byte, contentType string, err error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fw, err := w.CreateFormFile("certFile", "cert.pem")
	if err != nil {
		return nil, "", err
	}
	if _, err := fw.Write(certPEM); err != nil {
		return nil, "", err
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), w.FormDataContentType(), nil
}
