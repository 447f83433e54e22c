package upstream

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/keyplane/keyplane"
)

// Target is one upstream that requests are sent to.
type Target struct {
	// Addr is the host:port dialled; requests sent through the target's
	// transport must have it as their URL's host.
	Addr string
	// TLS is the target's SSLInfo; nil means plain HTTP. A target reached
	// by TLS without an SSLInfo (an https URL alone) has an empty one.
	TLS *keyplane.SSLInfo
	// Host is the name sent as SNI and checked against the server
	// certificate; empty means the host of Addr.
	Host string
	// Material is the TLS material TLS names.
	Material Material
}

// Key identifies a pooled transport: the address it dials and the
// fingerprint of its TLS configuration.
type Key struct {
	Addr string
	// Fingerprint is the SHA-256 of the TLS settings, host name, client
	// chain and roots; zero for plain HTTP.
	Fingerprint [sha256.Size]byte
}

// fingerprint identifies the TLS configuration of t: two targets with the
// same fingerprint can share connections. The private key is left out: the
// certificate, whose public key it must match, already identifies it.
func fingerprint(t Target, host string) [sha256.Size]byte {
	h := sha256.New()
	settings, _ := json.Marshal(t.TLS) // a struct of strings, bools and lists: cannot fail
	field(h, settings)
	field(h, []byte(host))
	if c := t.Material.Certificate; c != nil {
		for _, der := range c.Certificate {
			field(h, der)
		}
	}
	field(h, nil) // separates the client chain from the roots
	for _, r := range t.Material.Roots {
		field(h, r.Raw)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// field writes b to h with its length first, so that fields cannot run into
// one another.
func field(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// Options tune the transports; the zero value of a field means its default.
type Options struct {
	// DialTimeout bounds connecting to the target; default 3s, Apigee's
	// connect.timeout.millis.
	DialTimeout time.Duration
	// TLSHandshakeTimeout bounds the TLS handshake; default 10s.
	TLSHandshakeTimeout time.Duration
	// ResponseHeaderTimeout bounds waiting for the response headers once
	// the request is written; default 55s, Apigee's io.timeout.millis.
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes a keep-alive connection idle that long;
	// default 60s.
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerHost is how many idle connections to one target are
	// kept; default 256, so that a busy target does not reconnect for
	// every request beyond net/http's default of 2.
	MaxIdleConnsPerHost int
	// Control, when set, gives the dialler's Control function for a
	// target's host (name or IP literal): it sees every address dialled,
	// after DNS resolution, and refuses those it returns an error for.
	Control func(host string) func(network, address string, c syscall.RawConn) error
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&o.DialTimeout, 3*time.Second)
	def(&o.TLSHandshakeTimeout, 10*time.Second)
	def(&o.ResponseHeaderTimeout, 55*time.Second)
	def(&o.IdleConnTimeout, 60*time.Second)
	if o.MaxIdleConnsPerHost == 0 {
		o.MaxIdleConnsPerHost = 256
	}
	return o
}

// Transports pools upstream HTTP transports per Key: keep-alive, HTTP/1.1,
// and HTTP/2 when a TLS target offers it by ALPN. A configuration change
// retires old transports gracefully (see Retain). It is safe for concurrent
// use.
type Transports struct {
	opts Options

	mu   sync.Mutex
	live map[Key]*Transport
}

// NewTransports returns an empty pool.
func NewTransports(o Options) *Transports {
	return &Transports{opts: o.withDefaults(), live: map[Key]*Transport{}}
}

// Get returns the shared transport for t, making it on first use. It fails,
// with the error of Config, when t's TLS settings are invalid.
func (p *Transports) Get(t Target) (*Transport, error) {
	key := Key{Addr: t.Addr}
	var cfg *tls.Config
	if t.TLS != nil {
		host := t.Host
		if host == "" {
			h, _, err := net.SplitHostPort(t.Addr)
			if err != nil {
				h = t.Addr
			}
			host = h
		}
		var err error
		if cfg, err = Config(t.TLS, host, t.Material); err != nil {
			return nil, err
		}
		key.Fingerprint = fingerprint(t, host)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if tr, ok := p.live[key]; ok {
		return tr, nil
	}
	tr := &Transport{key: key}
	if cfg != nil {
		cfg = tr.watchCertificateRequests(cfg)
	}
	dialer := p.dialer(t)
	tr.http = p.newHTTPTransport(cfg, false, dialer)
	tr.h1 = newH1Pool(t.Addr, cfg, p.opts, dialer)
	// Upgrades (WebSocket) are HTTP/1.1 only: a transport of their own,
	// whose connections never offer HTTP/2.
	tr.upgrade = p.newHTTPTransport(cfg, true, dialer)
	if cfg != nil {
		tr.http.DialTLSContext = tr.h1.dialTLS
		http1 := cfg.Clone()
		http1.NextProtos = []string{"http/1.1"}
		tr.upgrade.TLSClientConfig = http1
	}
	p.live[key] = tr
	return tr, nil
}

// dialer is the dialler of t's connections, with the Control function of
// its host when the options give one.
func (p *Transports) dialer(t Target) *net.Dialer {
	d := &net.Dialer{Timeout: p.opts.DialTimeout, KeepAlive: 30 * time.Second}
	if p.opts.Control != nil {
		host, _, err := net.SplitHostPort(t.Addr)
		if err != nil {
			host = t.Addr
		}
		d.Control = p.opts.Control(host)
	}
	return d
}

// newHTTPTransport makes the net/http transport of one key.
func (p *Transports) newHTTPTransport(cfg *tls.Config, http1Only bool, dialer *net.Dialer) *http.Transport {
	o := p.opts
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	if cfg != nil && !http1Only {
		protocols.SetHTTP2(true)
	}
	return &http.Transport{
		// Never a proxy from the environment: traffic goes to the target.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       cfg,
		TLSHandshakeTimeout:   o.TLSHandshakeTimeout,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		IdleConnTimeout:       o.IdleConnTimeout,
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
		// A gateway passes bodies and Accept-Encoding through untouched.
		DisableCompression: true,
		ForceAttemptHTTP2:  cfg != nil && !http1Only,
		Protocols:          protocols,
	}
}

// Retain keeps the transports of keep and retires every other live one:
// requests in flight on a retired transport finish, and its connections are
// closed as they become idle. A caller that rebuilds its configuration calls
// Get for every target it now uses, then Retain with their keys, so that
// unchanged targets keep their warm connections.
func (p *Transports) Retain(keep []Key) {
	wanted := make(map[Key]bool, len(keep))
	for _, k := range keep {
		wanted[k] = true
	}
	var retire []*Transport
	p.mu.Lock()
	for k, tr := range p.live {
		if !wanted[k] {
			delete(p.live, k)
			retire = append(retire, tr)
		}
	}
	p.mu.Unlock()
	for _, tr := range retire {
		tr.retire()
	}
}

// Close retires every transport, as Retain with no keys does.
func (p *Transports) Close() {
	p.Retain(nil)
}

// Len is the number of live transports.
func (p *Transports) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.live)
}

// Transport is the pooled transport of one Key. It is an http.RoundTripper;
// a request counts as in flight until its response body is read to the end
// or closed.
type Transport struct {
	key Key
	// h1 serves HTTP/1.1; http serves targets that chose HTTP/2 (h2 is
	// set once one did) and protocol upgrades.
	h1      *h1Pool
	http    *http.Transport
	upgrade *http.Transport
	h2      atomic.Bool

	active  atomic.Int64
	retired atomic.Bool

	// asked is what the transport did when a target asked for a client
	// certificate (notAsked, askedNoneSent or askedPresented), answered
	// whether any response ever came: together they explain a connection
	// that dies without a word after a TLS 1.3 handshake.
	asked    atomic.Int32
	answered atomic.Bool
}

// What a transport did when a target asked for a client certificate.
const (
	notAsked int32 = iota
	askedNoneSent
	askedPresented
)

// watchCertificateRequests returns a copy of cfg that records, in t.asked,
// whether targets ask for a client certificate and whether one is sent.
func (t *Transport) watchCertificateRequests(cfg *tls.Config) *tls.Config {
	cfg = cfg.Clone()
	present := cfg.GetClientCertificate
	cfg.GetClientCertificate = func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if present == nil {
			t.asked.Store(askedNoneSent)
			return &tls.Certificate{}, nil // no certificate, as crypto/tls sends without one
		}
		t.asked.Store(askedPresented)
		return present(cri)
	}
	return cfg
}

// Key is the key the transport is pooled under.
func (t *Transport) Key() Key { return t.key }

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.active.Add(1)
	rt := t.http
	if req.Header.Get("Upgrade") != "" {
		rt = t.upgrade
	} else if !t.h2.Load() {
		resp, err := t.h1.roundTrip(req, t.done)
		switch {
		case err == nil:
			if !t.answered.Load() {
				t.answered.Store(true)
			}
			return resp, nil
		case errors.Is(err, errHTTP2):
			t.h2.Store(true)
		default:
			t.done()
			if !t.answered.Load() {
				err = t.explain(err)
			}
			return nil, err
		}
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.done()
		if !t.answered.Load() {
			err = t.explain(err)
		}
		return nil, err
	}
	if !t.answered.Load() {
		t.answered.Store(true)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The connection now belongs to the caller, never to the pool; the
		// body must stay the io.ReadWriteCloser that net/http made it.
		t.done()
		return resp, nil
	}
	resp.Body = &trackedBody{ReadCloser: resp.Body, done: t.done}
	return resp, nil
}

// explain returns err, or the refused client certificate it most likely
// stands for. In TLS 1.3 a target judges the client certificate after the
// handshake has completed on the client's side: its alert may be lost to a
// write that fails first, or to HTTP/2 giving up on the connection without
// saying why. When the target asked for a certificate, never answered a
// request, and the connection died without a TLS error, the refusal is the
// explanation.
func (t *Transport) explain(err error) error {
	asked := t.asked.Load()
	if asked == notAsked || !diedSilently(err) {
		return err
	}
	if _, ok := Reason(err); ok {
		return err
	}
	return &refusedCertificateError{presented: asked == askedPresented, err: err}
}

// refusedCertificateError is a connection that died, after a TLS 1.3
// handshake in which the target asked for a client certificate, before the
// target's alert could be read.
type refusedCertificateError struct {
	presented bool
	err       error
}

func (e *refusedCertificateError) Error() string {
	if e.presented {
		return "the target most likely rejected the client certificate: " + e.err.Error()
	}
	return "the target most likely requires a client certificate, and none was sent: " + e.err.Error()
}

func (e *refusedCertificateError) Unwrap() error { return e.err }

// alert is the alert the target would have sent.
func (e *refusedCertificateError) alert() uint8 {
	if e.presented {
		return 42 // bad_certificate
	}
	return 116 // certificate_required
}

// diedSilently reports whether err is a connection that ended before any
// response without saying why.
func diedSilently(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	for _, e := range chain(err) {
		if e.Error() == "http2: client conn could not be established" {
			return true
		}
	}
	return false
}

// done ends one request; the last to end on a retired transport closes its
// idle connections.
func (t *Transport) done() {
	if t.active.Add(-1) == 0 && t.retired.Load() {
		t.closeIdle()
	}
}

// retire stops the transport from keeping connections once its requests in
// flight have finished.
func (t *Transport) retire() {
	t.retired.Store(true)
	// Close what is idle now and make net/http close HTTP/1 connections
	// as they become idle; HTTP/2 connections busy now are closed by the
	// last request to finish.
	t.closeIdle()
}

// sweeps are when closeIdle closes idle connections again.
var sweeps = []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second}

// closeIdle closes the idle connections, now and a few times more shortly
// after: an HTTP/2 connection forgets a stream just after the stream's body
// ends, so it may not look idle yet when the last request finishes.
func (t *Transport) closeIdle() {
	t.h1.closeIdle(t.retired.Load())
	t.http.CloseIdleConnections()
	t.upgrade.CloseIdleConnections()
	for _, d := range sweeps {
		time.AfterFunc(d, t.http.CloseIdleConnections)
	}
}

// trackedBody is a response body that ends its request on EOF or Close,
// whichever comes first.
type trackedBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.done)
	}
	return n, err
}

func (b *trackedBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}
