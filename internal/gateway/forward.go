package gateway

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
)

// hopHeaders are the hop-by-hop fields of RFC 9110 section 7.6.1: they
// describe one connection, so a proxy does not pass them on.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// removeHopHeaders deletes the hop-by-hop fields of h, and those its
// Connection field names.
func removeHopHeaders(h http.Header) {
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = textproto.TrimString(f); f != "" {
				delete(h, textproto.CanonicalMIMEHeaderKey(f))
			}
		}
	}
	for _, k := range hopHeaders {
		if _, ok := h[k]; ok {
			delete(h, k)
		}
	}
}

// forward sends r to the endpoint c chose and copies the answer back. It
// does what httputil.ReverseProxy does for a plain request (hop-by-hop
// fields dropped, X-Forwarded-For/-Host/-Proto set, trailers passed on,
// streams flushed as they come, a body cut short aborts the answer), with
// a fraction of its allocations: the inbound request's header map is
// reused rather than copied, since nothing reads it afterwards.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, c *call) {
	escaped := c.match.UpstreamPath()
	path, err := url.PathUnescape(escaped)
	if err != nil {
		path, escaped = escaped, ""
	}
	h := r.Header
	teTrailers := false
	for _, v := range h["Te"] {
		teTrailers = teTrailers || strings.Contains(v, "trailers")
	}
	removeHopHeaders(h)
	if teTrailers {
		h["Te"] = []string{"trailers"}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		h["X-Forwarded-For"] = []string{ip}
	}
	h["X-Forwarded-Host"] = []string{r.Host} // before r.Host becomes the target's
	if r.TLS != nil {
		h["X-Forwarded-Proto"] = []string{"https"}
	} else {
		h["X-Forwarded-Proto"] = []string{"http"}
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // no Go default in the client's name
	}
	// The inbound request becomes the outbound one: the handler owns it,
	// and nothing reads its URL, Host or header map after the handler.
	out := r
	out.URL.Scheme, out.URL.Host = c.ep.scheme, c.ep.hostport
	out.URL.Path, out.URL.RawPath = path, escaped
	out.URL.Opaque, out.URL.User, out.URL.Fragment = "", nil, ""
	out.Host = c.ep.hostHeader
	out.RequestURI = "" // a client request must not have one
	out.Proto, out.ProtoMajor, out.ProtoMinor = "HTTP/1.1", 1, 1
	// The client's wish to close is about its own connection, which the
	// server reads from r.Close once the handler is done.
	clientClose := out.Close
	out.Close = false
	if out.ContentLength == 0 {
		out.Body = nil // no body: the request may be retried on a new connection
	}

	resp, err := c.ep.transport.RoundTrip(out)
	r.Close = clientClose
	if err != nil {
		g.upstreamFailed(w, r, c, err)
		return
	}
	defer resp.Body.Close()
	removeHopHeaders(resp.Header)
	dst := w.Header()
	for k, vv := range resp.Header {
		dst[k] = vv
	}
	for k := range resp.Trailer {
		dst.Add("Trailer", k)
	}
	w.WriteHeader(resp.StatusCode)

	// A response of unknown length, or an event stream, goes out as it
	// comes; any other in as few writes as the buffer allows.
	stream := resp.ContentLength < 0 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	flusher, _ := w.(http.Flusher)
	buf := g.buffers.Get()
	defer g.buffers.Put(buf)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client went away
			}
			if stream && flusher != nil {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if !errors.Is(r.Context().Err(), rerr) {
				g.log.Warn("gateway upstream answer cut short", "org", c.env.org, "env", c.env.env,
					"proxy", c.match.Proxy, "target", c.target.name, "upstream", c.ep.hostport, "error", rerr.Error())
			}
			// The status is gone already: abort, so that the client
			// sees a broken answer rather than a short one.
			panic(http.ErrAbortHandler)
		}
	}
	for k, vv := range resp.Trailer {
		dst[http.TrailerPrefix+k] = vv
	}
}
