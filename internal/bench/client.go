package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// opHeader names the operation a request belongs to. Only the in-process
// server that counts SQL statements reads it (see statementCounter); the
// real server ignores it, and the timed runs do not send it.
const opHeader = "X-Keyplane-Bench-Op"

// client speaks HTTP to a keyplane server with a bearer token. It is cheap
// to copy: withOp returns a copy that labels its requests.
type client struct {
	base  string
	token string
	op    string
	// host, when set, is the Host header: the gateway routes by it.
	host string
	http *http.Client
}

// newHTTPClient keeps enough idle connections for every worker, so that the
// runs measure requests and not TCP handshakes.
func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     5 * time.Minute,
			DisableCompression:  true,
		},
	}
}

// withOp returns a copy of c whose requests carry the operation label op.
func (c *client) withOp(op string) *client {
	cp := *c
	cp.op = op
	return &cp
}

// statusError is an answer other than 200.
type statusError struct {
	Method, URL string
	Status      int
	Body        string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.URL, e.Status, e.Body)
}

// do sends a request to path (relative to the server, or an absolute URL)
// and returns the body of a 200 answer; any other status is a *statusError.
func (c *client) do(ctx context.Context, method, path, contentType string, body []byte) ([]byte, error) {
	url := path
	if len(path) > 0 && path[0] == '/' {
		url = c.base + path
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.host != "" {
		req.Host = c.host
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.op != "" {
		req.Header.Set(opHeader, c.op)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		if len(b) > 500 {
			b = b[:500]
		}
		return nil, &statusError{Method: method, URL: url, Status: res.StatusCode, Body: string(b)}
	}
	return b, nil
}

// json sends in as JSON (nil for no body) and decodes the answer into out
// (nil to discard it).
func (c *client) json(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	ct := ""
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
		ct = "application/json"
	}
	b, err := c.do(ctx, method, path, ct, body)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}
