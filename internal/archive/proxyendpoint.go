package archive

import (
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/keyplane/keyplane"
)

// ProxyEndpoint is one apiproxy/proxies/*.xml of a programmable proxy: the
// base path it serves and the rules that pick a target for each request.
type ProxyEndpoint struct {
	// Name is the ProxyEndpoint's name attribute, or the file's name
	// without ".xml" when it has none.
	Name string
	// File is the endpoint's path in the archive.
	File string
	// BasePath is the HTTPProxyConnection's BasePath, cleaned as
	// CleanBasePath does. It is "" when the endpoint has none: such an
	// endpoint serves no request.
	BasePath string
	// RouteRules are the endpoint's RouteRules in the order they are
	// written, the order in which they are evaluated.
	RouteRules []RouteRule
}

// RouteRule is one RouteRule of a ProxyEndpoint. It names at most one of
// TargetEndpoint and URL; a rule that names neither is a "null route": the
// proxy answers the request itself.
type RouteRule struct {
	// Name is the rule's name attribute.
	Name string
	// Condition is the text of the rule's Condition, trimmed; "" when the
	// rule has none and so always applies. The archive keeps it as text:
	// the condition language is parsed by the routing that evaluates it.
	Condition string
	// ConditionLine and ConditionColumn locate the <Condition> element in
	// the endpoint's file, so that a problem found in the condition can be
	// reported where it is; both are 0 when the rule has no Condition.
	ConditionLine, ConditionColumn int
	// TargetEndpoint names a target endpoint of the same proxy.
	TargetEndpoint string
	// URL is a target URL written in the rule itself, absolute http or
	// https.
	URL string
}

// Paths of the ProxyEndpoint elements that matter, relative to the root.
const (
	basePathPath = "HTTPProxyConnection/BasePath"
	rulePath     = "RouteRule"
)

// parseProxyEndpoint reads an apiproxy/proxies/*.xml file. It returns,
// besides the endpoint, the position of each rule's <TargetEndpoint>, so
// that a rule naming a target endpoint that does not exist can be reported
// where it is.
func parseProxyEndpoint(path string, data []byte) (*ProxyEndpoint, []pos, error) {
	h := &proxyHandler{ep: &ProxyEndpoint{File: path}}
	if err := streamXML(path, data, "ProxyEndpoint", h); err != nil {
		return nil, nil, err
	}
	for i, r := range h.ep.RouteRules {
		if r.TargetEndpoint != "" && r.URL != "" {
			return nil, nil, fileError(path, h.rules[i].pos, "<RouteRule> %q has both <TargetEndpoint> and <URL>; set one", clip(r.Name))
		}
	}
	targets := make([]pos, len(h.rules))
	for i, r := range h.rules {
		targets[i] = r.target
	}
	return h.ep, targets, nil
}

// proxyHandler reads a ProxyEndpoint.
type proxyHandler struct {
	ep          *ProxyEndpoint
	hasBasePath bool
	rules       []ruleSeen
}

// ruleSeen is what proxyHandler remembers of one RouteRule.
type ruleSeen struct {
	pos, target pos
	children    map[string]bool
}

func (h *proxyHandler) start(f *xmlFrame, t xml.StartElement) error {
	switch f.path {
	case "":
		h.ep.Name = attr(t, "name")
	case basePathPath:
		if h.hasBasePath {
			return fmt.Errorf("more than one <BasePath>")
		}
		h.hasBasePath = true
	case rulePath:
		h.ep.RouteRules = append(h.ep.RouteRules, RouteRule{Name: attr(t, "name")})
		h.rules = append(h.rules, ruleSeen{pos: f.pos, children: map[string]bool{}})
	case rulePath + "/Condition", rulePath + "/TargetEndpoint", rulePath + "/URL":
		seen := &h.rules[len(h.rules)-1]
		if seen.children[f.name] {
			return fmt.Errorf("<RouteRule> %q has more than one <%s>", clip(h.ep.RouteRules[len(h.rules)-1].Name), f.name)
		}
		seen.children[f.name] = true
		switch f.name {
		case "Condition":
			r := &h.ep.RouteRules[len(h.rules)-1]
			r.ConditionLine, r.ConditionColumn = f.pos.line, f.pos.col
		case "TargetEndpoint":
			seen.target = f.pos
		}
	}
	return nil
}

func (h *proxyHandler) collects(path string) bool {
	switch path {
	case basePathPath, rulePath + "/Condition", rulePath + "/TargetEndpoint", rulePath + "/URL":
		return true
	}
	return false
}

func (h *proxyHandler) end(f xmlFrame) error {
	text := strings.TrimSpace(string(f.text))
	if f.path == basePathPath {
		clean, problem := CleanBasePath(text)
		if problem != "" {
			return fmt.Errorf("<BasePath> %q %s", clip(text), problem)
		}
		h.ep.BasePath = clean
		return nil
	}
	r := &h.ep.RouteRules[len(h.ep.RouteRules)-1]
	switch f.name {
	case "Condition":
		r.Condition = text
	case "TargetEndpoint":
		if text != "" && !keyplane.ValidName(text) {
			return fmt.Errorf("<TargetEndpoint> %q is not a valid target endpoint name", clip(text))
		}
		r.TargetEndpoint = text
	case "URL":
		if problem := CheckTargetURL(text); text != "" && problem != "" {
			return fmt.Errorf("<URL> %q %s", clip(text), problem)
		}
		r.URL = text
	}
	return nil
}
