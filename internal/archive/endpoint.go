package archive

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/keyplane/keyplane"
	"github.com/keyplane/keyplane/api"
)

// Paths of the TargetEndpoint elements that matter, relative to the root.
const (
	connPath    = "HTTPTargetConnection"
	sslPath     = connPath + "/SSLInfo"
	serverPath  = connPath + "/LoadBalancer/Server"
	maxTextSize = 64 << 10
)

// xmlFrame is an open element while streaming a target endpoint.
type xmlFrame struct {
	path string // relative to the root; "" for the root
	name string
	pos  pos
	text []byte // collected only for the elements that matter
}

// parseTargetEndpoint reads an apiproxy/targets/*.xml file. It streams the
// tokens instead of unmarshalling, so that depth and size stay bounded and
// every problem has a line and column.
func parseTargetEndpoint(path string, data []byte) (*TargetEndpoint, error) {
	dec := xml.NewDecoder(bytes.NewReader(trimBOM(data)))
	ep := &TargetEndpoint{File: path}
	var (
		stack    []xmlFrame
		elements int
		rooted   bool
		servers  = map[string]bool{}
	)
	for {
		line, col := dec.InputPos()
		start := pos{line, col}
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line, col := dec.InputPos()
			msg := err.Error()
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				msg = se.Msg
			}
			// The parser's message may quote a name of any length.
			return nil, fileError(path, pos{line, col}, "%s", clip(msg))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if elements++; elements > maxValues {
				return nil, fileError(path, start, "more than %d elements", maxValues)
			}
			if len(stack) >= maxDepth {
				return nil, fileError(path, start, "nested more than %d levels deep", maxDepth)
			}
			f := xmlFrame{name: t.Name.Local, pos: start}
			if len(stack) == 0 {
				if rooted {
					return nil, fileError(path, start, "more than one root element")
				}
				rooted = true
				if f.name != "TargetEndpoint" {
					return nil, fileError(path, start, "root element is <%s>, expected <TargetEndpoint>", clip(f.name))
				}
				ep.Name = attr(t, "name")
			} else {
				f.path = strings.TrimPrefix(stack[len(stack)-1].path+"/"+f.name, "/")
			}
			switch f.path {
			case sslPath:
				if ep.TLS == nil {
					ep.TLS = &api.TLSInfo{}
				}
			case sslPath + "/CommonName":
				if ep.TLS.CommonName == nil {
					ep.TLS.CommonName = &api.CommonName{}
				}
				if w := attr(t, "wildcardMatch"); w != "" {
					if ep.TLS.CommonName.WildcardMatch, err = xmlBool(w); err != nil {
						return nil, fileError(path, start, "wildcardMatch must be true or false, not %q", clip(w))
					}
				}
			case serverPath:
				name := attr(t, "name")
				if !keyplane.ValidName(name) {
					return nil, fileError(path, start, "<Server> name %q is not a valid target server name", clip(name))
				}
				servers[name] = true
			}
			stack = append(stack, f)
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			if top := &stack[len(stack)-1]; collects(top.path) {
				if len(top.text)+len(t) > maxTextSize {
					return nil, fileError(path, top.pos, "<%s> is longer than %d bytes", top.name, maxTextSize)
				}
				top.text = append(top.text, t...)
			}
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if err := endpointValue(ep, f); err != nil {
				return nil, fileError(path, f.pos, "%s", err)
			}
		}
	}
	if !rooted {
		return nil, fileError(path, pos{}, "no <TargetEndpoint> element")
	}
	ep.TargetServerIDs = sortedKeys(servers)
	return ep, nil
}

// collects reports whether the text of the element at path matters.
func collects(path string) bool {
	if path == connPath+"/URL" {
		return true
	}
	leaf, ok := strings.CutPrefix(path, sslPath+"/")
	if !ok {
		return false
	}
	switch leaf {
	case "Enabled", "Enforce", "ClientAuthEnabled", "IgnoreValidationErrors",
		"KeyStore", "KeyAlias", "TrustStore",
		"Protocols/Protocol", "Ciphers/Cipher", "CommonName":
		return true
	}
	return false
}

// endpointValue stores the text of the closed element f into ep.
func endpointValue(ep *TargetEndpoint, f xmlFrame) error {
	if !collects(f.path) {
		return nil
	}
	text := strings.TrimSpace(string(f.text))
	if f.path == connPath+"/URL" {
		ep.URL = text
		return nil
	}
	t := ep.TLS
	var dst *bool
	switch strings.TrimPrefix(f.path, sslPath+"/") {
	case "Enabled":
		dst = &t.Enabled
	case "Enforce":
		dst = &t.Enforce
	case "ClientAuthEnabled":
		dst = &t.ClientAuthEnabled
	case "IgnoreValidationErrors":
		dst = &t.IgnoreValidationErrors
	case "KeyStore":
		t.KeyStore = text
	case "KeyAlias":
		t.KeyAlias = text
	case "TrustStore":
		t.TrustStore = text
	case "Protocols/Protocol":
		t.Protocols = append(t.Protocols, text)
	case "Ciphers/Cipher":
		t.Ciphers = append(t.Ciphers, text)
	case "CommonName":
		t.CommonName.Value = text
	}
	if dst != nil {
		b, err := xmlBool(text)
		if err != nil {
			return fmt.Errorf("<%s> must be true or false, not %q", f.name, clip(text))
		}
		*dst = b
	}
	return nil
}

// xmlBool parses an SSLInfo flag; an empty element is false.
func xmlBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true, nil
	case "false", "":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

// attr returns the value of the attribute of e named name, or "".
func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}
