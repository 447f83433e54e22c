package archive

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/keyplane/keyplane"
)

// Paths of the TargetEndpoint elements that matter, relative to the root.
const (
	connPath    = "HTTPTargetConnection"
	sslPath     = connPath + "/SSLInfo"
	serverPath  = connPath + "/LoadBalancer/Server"
	maxTextSize = 64 << 10
)

// xmlFrame is an open element while streaming an endpoint.
type xmlFrame struct {
	path string // relative to the root; "" for the root
	name string
	pos  pos
	text []byte // collected only for the elements that matter
}

// xmlHandler interprets the elements of one kind of endpoint file as
// streamXML meets them.
type xmlHandler interface {
	// start is called when the element f opens, the root included; an
	// error is reported at the element's position.
	start(f *xmlFrame, t xml.StartElement) error
	// collects reports whether the text of the element at path matters.
	collects(path string) bool
	// end is called when the element f closes, with its text if it
	// collects; an error is reported at the element's position.
	end(f xmlFrame) error
}

// streamXML reads the endpoint file at path, whose root element must be
// root. It streams the tokens instead of unmarshalling, so that depth and
// size stay bounded and every problem has a line and column.
func streamXML(path string, data []byte, root string, h xmlHandler) error {
	dec := xml.NewDecoder(bytes.NewReader(trimBOM(data)))
	var (
		stack    []xmlFrame
		elements int
		rooted   bool
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
			// The parser's message may quote a name of any length, and
			// bytes that are not UTF-8.
			return fileError(path, pos{line, col}, "%s", clip(strings.ToValidUTF8(msg, "\uFFFD")))
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if elements++; elements > maxValues {
				return fileError(path, start, "more than %d elements", maxValues)
			}
			if len(stack) >= maxDepth {
				return fileError(path, start, "nested more than %d levels deep", maxDepth)
			}
			f := xmlFrame{name: t.Name.Local, pos: start}
			if len(stack) == 0 {
				if rooted {
					return fileError(path, start, "more than one root element")
				}
				rooted = true
				if f.name != root {
					return fileError(path, start, "root element is <%s>, expected <%s>", clip(f.name), root)
				}
			} else {
				f.path = strings.TrimPrefix(stack[len(stack)-1].path+"/"+f.name, "/")
			}
			if err := h.start(&f, t); err != nil {
				return fileError(path, start, "%s", err)
			}
			stack = append(stack, f)
		case xml.CharData:
			if len(stack) == 0 {
				continue
			}
			if top := &stack[len(stack)-1]; h.collects(top.path) {
				if len(top.text)+len(t) > maxTextSize {
					return fileError(path, top.pos, "<%s> is longer than %d bytes", top.name, maxTextSize)
				}
				top.text = append(top.text, t...)
			}
		case xml.EndElement:
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if !h.collects(f.path) {
				continue
			}
			if err := h.end(f); err != nil {
				return fileError(path, f.pos, "%s", err)
			}
		}
	}
	if !rooted {
		return fileError(path, pos{}, "no <%s> element", root)
	}
	return nil
}

// parseTargetEndpoint reads an apiproxy/targets/*.xml file.
func parseTargetEndpoint(path string, data []byte) (*TargetEndpoint, error) {
	h := &targetHandler{ep: &TargetEndpoint{File: path}, servers: map[string]bool{}}
	if err := streamXML(path, data, "TargetEndpoint", h); err != nil {
		return nil, err
	}
	h.ep.TargetServerIDs = sortedKeys(h.servers)
	return h.ep, nil
}

// targetHandler reads a TargetEndpoint.
type targetHandler struct {
	ep      *TargetEndpoint
	servers map[string]bool
}

func (h *targetHandler) start(f *xmlFrame, t xml.StartElement) error {
	ep := h.ep
	switch f.path {
	case "":
		ep.Name = attr(t, "name")
	case sslPath:
		if ep.TLS == nil {
			ep.TLS = &keyplane.SSLInfo{}
		}
	case sslPath + "/CommonName":
		if ep.TLS.CommonName == nil {
			ep.TLS.CommonName = &keyplane.CommonName{}
		}
		if w := attr(t, "wildcardMatch"); w != "" {
			var err error
			if ep.TLS.CommonName.WildcardMatch, err = xmlBool(w); err != nil {
				return fmt.Errorf("wildcardMatch must be true or false, not %q", clip(w))
			}
		}
	case serverPath:
		name := attr(t, "name")
		if !keyplane.ValidName(name) {
			return fmt.Errorf("<Server> name %q is not a valid target server name", clip(name))
		}
		h.servers[name] = true
	}
	return nil
}

// collects reports whether the text of the TargetEndpoint element at path
// matters.
func (h *targetHandler) collects(path string) bool {
	if path == connPath+"/URL" || path == connPath+"/Path" {
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

// end stores the text of the closed element f.
func (h *targetHandler) end(f xmlFrame) error {
	ep := h.ep
	text := strings.TrimSpace(string(f.text))
	switch f.path {
	case connPath + "/URL":
		ep.URL = text
		return nil
	case connPath + "/Path":
		ep.Path = text
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
