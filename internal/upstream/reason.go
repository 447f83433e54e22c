package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The beginning of every connection failure body, in Envoy's words.
const connectFailure = "upstream connect error or disconnect/reset before headers. reset reason: "

// Reason returns the text that follows "TLS error: " in the runtime's 503 body
// for a failed connection, and whether err was a TLS failure at all (vs.
// connection refused, timeout...). The package documentation lists the texts.
func Reason(err error) (reason string, ok bool) {
	if err == nil {
		return "", false
	}
	if ce, ok := errors.AsType[*CertificateError](err); ok {
		return string(ce.Problem) + ":CERTIFICATE_VERIFY_FAILED", true
	}
	if ve, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		// Go's own verification, for a configuration Config did not build.
		return string(chainError(ve.UnverifiedCertificates, ve.Err, time.Now()).Problem) + ":CERTIFICATE_VERIFY_FAILED", true
	}
	if rc, ok := errors.AsType[*refusedCertificateError](err); ok {
		return alertReason(rc.alert()), true
	}
	if a, ok := remoteAlert(err); ok {
		return alertReason(a), true
	}
	if a, ok := errors.AsType[tls.AlertError](err); ok {
		return alertReason(uint8(a)), true
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return "the target did not answer with TLS:WRONG_VERSION_NUMBER", true
	}
	if msg, ok := tlsMessage(err); ok {
		switch {
		case strings.HasPrefix(msg, "no supported versions satisfy MinVersion and MaxVersion"):
			return "no protocol version enabled, TLSv1 and TLSv1.1 are not supported:NO_SUPPORTED_VERSIONS_ENABLED", true
		case strings.HasPrefix(msg, "server selected unsupported protocol version"):
			return "the target chose a protocol version that is not enabled:UNSUPPORTED_PROTOCOL", true
		case strings.HasPrefix(msg, "server chose an unconfigured cipher suite"):
			return "the target chose a cipher suite that is not enabled:WRONG_CIPHER_RETURNED", true
		}
		return msg + ":SSL_HANDSHAKE_FAILURE", true
	}
	return "", false
}

// remoteAlert returns the alert the target sent, if err is one: crypto/tls
// reports it as a *net.OpError "remote error" around an unexported alert
// number.
func remoteAlert(err error) (uint8, bool) {
	op, ok := errors.AsType[*net.OpError](err)
	if !ok || op.Op != "remote error" || op.Err == nil {
		return 0, false
	}
	v := reflect.ValueOf(op.Err)
	if v.Kind() != reflect.Uint8 || v.Type().PkgPath() != "crypto/tls" {
		return 0, false
	}
	return uint8(v.Uint()), true
}

// alerts are the alerts a target may send with BoringSSL's reason name for
// each and, for those that say something about the settings, what it means.
var alerts = map[uint8]struct{ name, meaning string }{
	10: {"SSLV3_ALERT_UNEXPECTED_MESSAGE", ""},
	20: {"SSLV3_ALERT_BAD_RECORD_MAC", ""},
	// OpenSSL and Go servers send handshake_failure both when no cipher
	// suite is in common and, in TLS 1.2, when a required client
	// certificate is missing.
	40:  {"SSLV3_ALERT_HANDSHAKE_FAILURE", "handshake refused by the target, no common cipher suite or missing client certificate"},
	42:  {"SSLV3_ALERT_BAD_CERTIFICATE", "the target rejected the client certificate"},
	43:  {"SSLV3_ALERT_UNSUPPORTED_CERTIFICATE", "the target does not support the client certificate"},
	44:  {"SSLV3_ALERT_CERTIFICATE_REVOKED", "the target says the client certificate is revoked"},
	45:  {"SSLV3_ALERT_CERTIFICATE_EXPIRED", "the target says the client certificate has expired"},
	46:  {"SSLV3_ALERT_CERTIFICATE_UNKNOWN", "the target rejected the client certificate"},
	47:  {"SSLV3_ALERT_ILLEGAL_PARAMETER", ""},
	48:  {"TLSV1_ALERT_UNKNOWN_CA", "the target does not trust the client certificate's issuer"},
	49:  {"TLSV1_ALERT_ACCESS_DENIED", ""},
	50:  {"TLSV1_ALERT_DECODE_ERROR", ""},
	51:  {"TLSV1_ALERT_DECRYPT_ERROR", ""},
	70:  {"TLSV1_ALERT_PROTOCOL_VERSION", "no protocol version in common with the target"},
	71:  {"TLSV1_ALERT_INSUFFICIENT_SECURITY", ""},
	80:  {"TLSV1_ALERT_INTERNAL_ERROR", ""},
	86:  {"TLSV1_ALERT_INAPPROPRIATE_FALLBACK", ""},
	90:  {"TLSV1_ALERT_USER_CANCELLED", ""},
	100: {"TLSV1_ALERT_NO_RENEGOTIATION", ""},
	109: {"TLSV1_ALERT_MISSING_EXTENSION", ""},
	110: {"TLSV1_ALERT_UNSUPPORTED_EXTENSION", ""},
	112: {"TLSV1_ALERT_UNRECOGNIZED_NAME", "the target does not serve the host name sent as SNI"},
	116: {"TLSV1_ALERT_CERTIFICATE_REQUIRED", "the target requires a client certificate"},
	120: {"TLSV1_ALERT_NO_APPLICATION_PROTOCOL", ""},
}

// alertReason is the reason for alert a from the target.
func alertReason(a uint8) string {
	al, ok := alerts[a]
	if !ok {
		return "the target sent alert " + strconv.Itoa(int(a)) + ":UNKNOWN_ALERT_TYPE"
	}
	if al.meaning != "" {
		return al.meaning + ":" + al.name
	}
	return "the target sent alert " + strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(al.name, "SSLV3_ALERT_"), "TLSV1_ALERT_")) + ":" + al.name
}

// tlsMessage returns the text, without "tls: ", of the crypto/tls error in
// err's chain, if there is one: the client side of a handshake reports its own
// failures as plain errors.
func tlsMessage(err error) (string, bool) {
	for _, e := range chain(err) {
		if msg, ok := strings.CutPrefix(e.Error(), "tls: "); ok {
			return msg, true
		}
	}
	return "", false
}

// chain is err and every error it wraps, depth first.
func chain(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		for e != nil {
			out = append(out, e)
			switch u := e.(type) {
			case interface{ Unwrap() []error }:
				for _, inner := range u.Unwrap() {
					walk(inner)
				}
				return
			case interface{ Unwrap() error }:
				e = u.Unwrap()
			default:
				return
			}
		}
	}
	walk(err)
	return out
}

// FailureBody is the 503 body for a connection failure to the target (TLS or
// not), in the seed's words, for instance "upstream connect error or
// disconnect/reset before headers. reset reason: connection failure,
// transport failure reason: TLS error: certificate has
// expired:CERTIFICATE_VERIFY_FAILED".
func FailureBody(err error) string {
	_, body := Failure(err)
	return body
}

// Failure is the status and body to answer when a request to the target
// failed with err before any response header arrived: 503 with FailureBody
// for a connection failure, 504 "upstream request timeout" when the target
// took too long to answer.
func Failure(err error) (status int, body string) {
	if reason, ok := Reason(err); ok {
		return http.StatusServiceUnavailable, connectFailure + "connection failure, transport failure reason: TLS error: " + reason
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return http.StatusServiceUnavailable, "no healthy upstream"
	}
	if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" {
		// Refused, unreachable, timed out or fenced off read alike: a
		// deployer must not learn from the answer whether a port is
		// closed or filtered, or the gateway becomes a port scanner.
		return http.StatusServiceUnavailable, connectFailure + "connection failure"
	}
	// net/http reports these as unexported values: their text is all there
	// is to go by.
	for _, e := range chain(err) {
		switch msg := e.Error(); {
		case msg == "net/http: TLS handshake timeout":
			return http.StatusServiceUnavailable, connectFailure + "connection timeout"
		case strings.HasSuffix(msg, ": timeout awaiting response headers"):
			return http.StatusGatewayTimeout, "upstream request timeout"
		case msg == "http: server closed idle connection":
			return http.StatusServiceUnavailable, connectFailure + "connection termination"
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "upstream request timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return http.StatusServiceUnavailable, connectFailure + "connection termination"
	}
	return http.StatusServiceUnavailable, connectFailure + "connection failure"
}
