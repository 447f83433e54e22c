package server

import (
	"cmp"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/keyplane/keyplane/internal/clientlimit"
	"github.com/keyplane/keyplane/internal/egress"
	"github.com/keyplane/keyplane/internal/seal"
)

// The settings of both commands are read here, in the package that
// assembles both, and not in a configuration package of its own: every
// variable fills a field of Config or GatewayConfig, so the variable, the
// rule it is parsed by and the field it sets are read side by side, and a
// new setting is one edit in one package. The rules are the same for both
// commands: a variable both read (KEYPLANE_SHUTDOWN_GRACE, the log and
// target-fence variables, KEYPLANE_MASTER_KEY, DATABASE_URL) means the same
// thing to both, and a bad value is refused before the database is touched,
// naming the variable and saying what was expected.

// Default listen addresses of the API and of the gateway.
const (
	DefaultAddr        = "127.0.0.1:8080"
	DefaultGatewayAddr = "127.0.0.1:8443"
)

// Source is where settings come from: the flags given on the command line,
// which win, then the environment.
type Source struct {
	// Flags holds the value of each flag given on the command line, keyed
	// by the variable it overrides (the --addr of `serve` by
	// KEYPLANE_ADDR). A flag left out is absent, not empty.
	Flags map[string]string
	// Getenv reads a variable; nil means os.Getenv.
	Getenv func(string) string
	// Stderr is where the log goes; nil means os.Stderr. Whether it is a
	// terminal decides the default log format.
	Stderr *os.File
}

// ServeSettings is `keyplane serve` as configured.
type ServeSettings struct {
	// Addr is the API's listen address.
	Addr   string
	Config Config
	// TokenGenerated says that KEYPLANE_BOOTSTRAP_TOKEN was unset and
	// Config.AdminToken was made up, to be shown to whoever started the
	// server.
	TokenGenerated bool
}

// GatewaySettings is `keyplane gateway` as configured.
type GatewaySettings struct {
	// Addr is the gateway's listen address.
	Addr   string
	Config GatewayConfig
}

// ReadServe reads the settings of `keyplane serve`. Its error names the
// first variable refused and why.
func ReadServe(src Source) (ServeSettings, error) {
	r := newReader(src)
	s := ServeSettings{Addr: r.string("KEYPLANE_ADDR", DefaultAddr)}
	c := &s.Config
	c.Log = r.bufferedLogger()
	c.DatabaseURL = r.databaseURL()
	c.MasterKey = r.masterKey()
	c.AdminToken = r.string("KEYPLANE_BOOTSTRAP_TOKEN", "")
	c.PublicURL = r.string("KEYPLANE_PUBLIC_URL", "")
	c.TLS = r.tls("KEYPLANE_TLS_CERT", "KEYPLANE_TLS_KEY")
	c.MetricsToken = r.string("KEYPLANE_METRICS_TOKEN", "")
	c.MetricsAddr = r.string("KEYPLANE_METRICS_ADDR", "")
	c.JobTimeout = r.duration("KEYPLANE_JOB_TIMEOUT", atLeastZero)
	c.RescueAfter = r.duration("KEYPLANE_RESCUE_AFTER", atLeastZero)
	c.ValidationDelay = r.duration("KEYPLANE_DEPLOY_DELAY", atLeastZero)
	c.ShutdownTimeout = r.duration("KEYPLANE_SHUTDOWN_GRACE", aboveZero)
	c.Targets = r.targets(s.Addr, c.MetricsAddr)
	c.Timeouts, c.MaxConnsPerAddr = r.clientLimits("KEYPLANE_")
	c.Quotas.ArchiveBytes = r.limit("KEYPLANE_QUOTA_ARCHIVE_BYTES")
	c.Quotas.DeploymentsPerDay = int(r.limit("KEYPLANE_QUOTA_DEPLOYMENTS_PER_DAY"))
	c.AliasQuota = int(r.limit("KEYPLANE_QUOTA_ALIASES"))
	c.MaxConcurrentUploads = r.positive("KEYPLANE_MAX_CONCURRENT_UPLOADS")
	c.KeepArchives = r.positive("KEYPLANE_KEEP_ARCHIVES")
	if r.err != nil {
		return ServeSettings{}, r.err
	}
	if c.AdminToken == "" {
		c.AdminToken, s.TokenGenerated = NewToken(), true
	}
	return s, nil
}

// ReadGateway reads the settings of `keyplane gateway`. Its error names
// the first variable refused and why.
func ReadGateway(src Source) (GatewaySettings, error) {
	r := newReader(src)
	s := GatewaySettings{Addr: r.string("KEYPLANE_GATEWAY_ADDR", DefaultGatewayAddr)}
	c := &s.Config
	c.Log = r.bufferedLogger()
	c.DatabaseURL = r.databaseURL()
	c.MasterKey = r.masterKey()
	c.Domain = r.string("KEYPLANE_GATEWAY_DOMAIN", "")
	c.TLS = r.tls("KEYPLANE_GATEWAY_TLS_CERT", "KEYPLANE_GATEWAY_TLS_KEY")
	c.Resync = r.duration("KEYPLANE_GATEWAY_RESYNC", aboveZero)
	c.ShutdownTimeout = r.duration("KEYPLANE_SHUTDOWN_GRACE", aboveZero)
	// The gateway never forwards to the API server's addresses, which it
	// learns from the API server's variables.
	c.Targets = r.targets(r.string("KEYPLANE_ADDR", DefaultAddr), r.string("KEYPLANE_METRICS_ADDR", ""))
	c.Timeouts, c.MaxConnsPerAddr = r.clientLimits("KEYPLANE_GATEWAY_")
	c.DisableUpstreamKeepAlives = !r.onOff("KEYPLANE_GATEWAY_UPSTREAM_KEEPALIVE", true)
	if r.err != nil {
		return GatewaySettings{}, r.err
	}
	return s, nil
}

// LoadTLS loads the PEM certificate chain and private key a server speaks
// HTTPS with, TLS 1.2 and newer only. With neither file named it returns
// nil: plain HTTP.
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}, nil
}

// NewLogger returns the server's logger writing to w: JSON lines, or text
// for people when format is "text" or, with no format given, when w is a
// terminal.
func NewLogger(w *os.File, format, level string) (*slog.Logger, error) {
	return newLogger(w, w, format, level)
}

// newLogger is NewLogger writing to out, the format chosen by whether w
// is a terminal.
func newLogger(out io.Writer, w *os.File, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if level != "" {
		if err := lvl.UnmarshalText([]byte(level)); err != nil {
			return nil, fmt.Errorf("KEYPLANE_LOG_LEVEL %q is not a level: use debug, info, warn or error", level)
		}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "" {
		format = "json"
		if fi, err := w.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "text"
		}
	}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(out, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(out, opts)), nil
	default:
		return nil, fmt.Errorf("KEYPLANE_LOG_FORMAT %q is not a format: use json or text", format)
	}
}

// reader reads variables by the rules below and keeps the first error, so
// that a command's settings read as a list of assignments.
type reader struct {
	src Source
	err error
}

func newReader(src Source) *reader {
	if src.Getenv == nil {
		src.Getenv = os.Getenv
	}
	if src.Stderr == nil {
		src.Stderr = os.Stderr
	}
	return &reader{src: src}
}

// fail records err unless an earlier error is recorded.
func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// string is the flag standing for variable name if one was given, else the
// variable, else def when the variable is unset or empty.
func (r *reader) string(name, def string) string {
	if v, ok := r.src.Flags[name]; ok {
		return v
	}
	return cmp.Or(r.src.Getenv(name), def)
}

// onOff reads an on/off switch (also true/false, 1/0, yes/no), def when it
// is unset.
func (r *reader) onOff(name string, def bool) bool {
	v := r.string(name, "")
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "":
		return def
	case "on", "true", "1", "yes":
		return true
	case "off", "false", "0", "no":
		return false
	}
	r.fail(fmt.Errorf("%s %q: want on or off", name, v))
	return def
}

func (r *reader) logger() *slog.Logger {
	log, err := NewLogger(r.src.Stderr, r.string("KEYPLANE_LOG_FORMAT", ""), r.string("KEYPLANE_LOG_LEVEL", ""))
	r.fail(err)
	return log
}

// bufferedLogger is logger writing in batches, for the server, which
// writes a line per request and flushes at Close.
func (r *reader) bufferedLogger() *slog.Logger {
	log, err := NewBufferedLogger(r.src.Stderr, r.string("KEYPLANE_LOG_FORMAT", ""), r.string("KEYPLANE_LOG_LEVEL", ""), LogFlushInterval)
	r.fail(err)
	return log
}

func (r *reader) databaseURL() string {
	url := r.string("DATABASE_URL", "")
	if url == "" {
		r.fail(fmt.Errorf("DATABASE_URL is not set"))
	}
	return url
}

// masterKey is KEYPLANE_MASTER_KEY, checked here so that a bad key is
// refused before the database is migrated.
func (r *reader) masterKey() string {
	key := r.string("KEYPLANE_MASTER_KEY", "")
	if _, err := seal.ParseKeyring(key); err != nil {
		r.fail(fmt.Errorf("KEYPLANE_MASTER_KEY: %w", err))
	}
	return key
}

// tls loads the files named by the variables certVar and keyVar.
func (r *reader) tls(certVar, keyVar string) *tls.Config {
	cfg, err := LoadTLS(r.string(certVar, ""), r.string(keyVar, ""))
	if err != nil {
		r.fail(fmt.Errorf("%s/%s: %w", certVar, keyVar, err))
	}
	return cfg
}

// targets is the target fence of KEYPLANE_GATEWAY_TARGETS_ALLOW and _DENY,
// which also refuses the addresses own.
func (r *reader) targets(own ...string) *egress.Policy {
	p, err := egress.Parse(r.string("KEYPLANE_GATEWAY_TARGETS_ALLOW", ""), r.string("KEYPLANE_GATEWAY_TARGETS_DENY", ""), own...)
	r.fail(err)
	return p
}

// durationRule says which durations a variable takes.
type durationRule bool

const (
	// aboveZero is for waits and periods: zero would mean none at all.
	aboveZero durationRule = true
	// atLeastZero is for settings where zero means "the default" or
	// "none".
	atLeastZero durationRule = false
)

// duration reads a duration such as 30s or 5m; unset is zero, which every
// field it fills takes as its default.
func (r *reader) duration(name string, rule durationRule) time.Duration {
	s := r.string(name, "")
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	switch {
	case rule == aboveZero && (err != nil || d <= 0):
		r.fail(fmt.Errorf("%s %q is not a positive duration such as 30s", name, s))
	case err != nil:
		r.fail(fmt.Errorf("%s %q is not a duration such as 30s", name, s))
	case d < 0:
		r.fail(fmt.Errorf("%s %q is negative: give 0 or a duration such as 30s", name, s))
	default:
		return d
	}
	return 0
}

// limit reads a quota or limit where 0 means no limit: unset is 0 (the
// field's default), a number above zero is itself and 0 is -1, the fields'
// "no limit".
func (r *reader) limit(name string) int64 {
	return r.count(name, "a number (0 for no limit)")
}

// positive reads a count that must be above zero; unset is 0, the field's
// default.
func (r *reader) positive(name string) int {
	s := r.string(name, "")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		r.fail(fmt.Errorf("%s %q is not a positive number", name, s))
		return 0
	}
	return n
}

// count reads a count of 0 or more, where 0 means no limit and comes back
// as -1; what says what was expected, for the error.
func (r *reader) count(name, what string) int64 {
	s := r.string(name, "")
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		r.fail(fmt.Errorf("%s %q is not %s", name, s, what))
		return 0
	}
	return cmp.Or(n, -1)
}

// clientLimits reads the slow-client deadlines and the connection limit
// per client address from prefix+NAME, such as KEYPLANE_BODY_IDLE_TIMEOUT
// or KEYPLANE_GATEWAY_BODY_IDLE_TIMEOUT; unset ones stay zero, which means
// the server's default.
func (r *reader) clientLimits(prefix string) (clientlimit.Timeouts, int) {
	t := clientlimit.Timeouts{
		ReadHeader: r.duration(prefix+"HEADER_TIMEOUT", aboveZero),
		BodyIdle:   r.duration(prefix+"BODY_IDLE_TIMEOUT", aboveZero),
		Read:       r.duration(prefix+"BODY_TIMEOUT", aboveZero),
		Write:      r.duration(prefix+"WRITE_TIMEOUT", aboveZero),
		Request:    r.duration(prefix+"REQUEST_TIMEOUT", aboveZero),
		Idle:       r.duration(prefix+"IDLE_TIMEOUT", aboveZero),
	}
	return t, int(r.count(prefix+"MAX_CONNS_PER_ADDR", "a number of connections (0 for no limit)"))
}
