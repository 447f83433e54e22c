package archive

import (
	"fmt"
	"sort"
	"strings"

	"github.com/keyplane/keyplane"
)

// bundleDir is the folder that holds an API proxy bundle: the zip that
// POST .../apis?action=import takes has it at its root.
const bundleDir = "apiproxy/"

// ProxyBundle is an imported API proxy bundle: the programmable proxy it
// defines, read by the same code as the programmable proxies of an
// archive, and the lists that describe a revision of it.
type ProxyBundle struct {
	// Proxy is the proxy the bundle defines, under the name it was
	// imported as.
	Proxy Proxy
	// Basepaths are the base paths of its proxy endpoints, sorted and
	// without repeats.
	Basepaths []string
	// Policies are the names of the files in apiproxy/policies/, without
	// ".xml".
	Policies []string
	// Resources are the files of apiproxy/resources/, as "{type}://{name}".
	Resources []string
}

// ReadProxyBundle unpacks and parses the zip of an apiproxy/ folder as the
// proxy name, within lim: the same safety checks as Read (traversal, links,
// bombs, entry counts, sizes), then the same parsing as an archive's
// programmable proxies, each error naming the file, line and column.
func ReadProxyBundle(zipBytes []byte, name string, lim Limits) (*ProxyBundle, error) {
	if !keyplane.ValidName(name) {
		return nil, invalid("API proxy name %q is invalid", clip(name))
	}
	a, err := read(zipBytes, lim, parsedInBundle)
	if err != nil {
		return nil, err
	}
	if !a.hasPrefix(bundleDir) {
		hint := ""
		if w := wrapperFolder(a.names, bundleDir); w != "" {
			hint = fmt.Sprintf(" (every entry is inside the folder %q: zip the apiproxy folder itself)", clip(w))
		}
		return nil, invalid("bundle has no %s folder%s", bundleDir, hint)
	}
	if !a.hasPrefix(bundleDir + "proxies/") {
		return nil, invalid("bundle defines no proxy endpoint: expected %sproxies/*.xml", bundleDir)
	}
	p, err := a.programmableProxy(name, bundleDir)
	if err != nil {
		return nil, err
	}
	out := &ProxyBundle{Proxy: *p}
	paths := map[string]bool{}
	for _, ep := range p.ProxyEndpoints {
		if ep.BasePath != "" {
			paths[ep.BasePath] = true
		}
	}
	out.Basepaths = sortedKeys(paths)
	for _, f := range a.withPrefix(bundleDir + "policies/") {
		if rest := strings.TrimPrefix(f, bundleDir+"policies/"); !strings.Contains(rest, "/") && strings.HasSuffix(rest, ".xml") {
			out.Policies = append(out.Policies, strings.TrimSuffix(rest, ".xml"))
		}
	}
	for _, f := range a.withPrefix(bundleDir + "resources/") {
		if typ, file, ok := strings.Cut(strings.TrimPrefix(f, bundleDir+"resources/"), "/"); ok && typ != "" && file != "" {
			out.Resources = append(out.Resources, typ+"://"+file)
		}
	}
	sort.Strings(out.Resources)
	return out, nil
}

// parsedInBundle reports whether the entry at name of a proxy bundle is a
// file that ReadProxyBundle parses: a target or proxy endpoint.
func parsedInBundle(name string) bool {
	endpoint, ok := strings.CutPrefix(name, bundleDir+"targets/")
	if !ok {
		endpoint, ok = strings.CutPrefix(name, bundleDir+"proxies/")
	}
	return ok && !strings.Contains(endpoint, "/") && strings.HasSuffix(endpoint, ".xml") && endpoint != ".xml"
}
