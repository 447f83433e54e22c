// Package egress decides which addresses a gateway may connect to on a
// deployer's behalf. Without such a fence, whoever may deploy an archive
// could point a target at the management API, at the host's loopback
// services or at a cloud metadata endpoint, and read the answers through
// the gateway.
//
// A Policy is checked twice: when a deployment is validated, against the
// target's host as written (a name or an IP literal, and the addresses the
// name resolves to then), so that the deployer gets an error naming the
// target; and when the gateway connects, against the very address dialled
// after DNS resolution, so that a name that resolves elsewhere later (DNS
// rebinding) gains nothing.
//
// The rules, in order:
//
//   - The management API's own listen addresses are always refused (an
//     unspecified address such as 0.0.0.0:8080 refuses that port on every
//     address of the host).
//   - An address or name on the deny list is refused.
//   - An address or name on the allow list is allowed.
//   - Loopback (127.0.0.0/8, ::1, the name localhost and names under
//     .localhost), link-local (169.254.0.0/16, fe80::/10), unspecified
//     (0.0.0.0/8, ::) and metadata addresses (169.254.169.254,
//     fd00:ec2::254, 100.100.100.200, metadata.google.internal) are
//     refused.
//   - Anything else is allowed.
package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Loopback is the allow list that lets targets reach this host's loopback
// addresses: for development and tests, whose backends listen there.
const Loopback = "127.0.0.0/8,::1,localhost"

// Policy is a parsed set of rules; the zero value is the default policy.
// It is safe for concurrent use.
type Policy struct {
	allow, deny           []netip.Prefix
	allowNames, denyNames []string
	own                   []netip.AddrPort
}

// fenced are the ranges refused unless allowed, with why.
var fenced = []struct {
	prefix netip.Prefix
	kind   string
}{
	{netip.MustParsePrefix("169.254.169.254/32"), "a metadata address"},
	{netip.MustParsePrefix("fd00:ec2::254/128"), "a metadata address"},
	{netip.MustParsePrefix("100.100.100.200/32"), "a metadata address"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback address"},
	{netip.MustParsePrefix("::1/128"), "a loopback address"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local address"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local address"},
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified address"},
	{netip.MustParsePrefix("::/128"), "an unspecified address"},
}

// fencedName says why a host name is refused unless allowed, or "".
func fencedName(name string) string {
	switch {
	case name == "localhost" || strings.HasSuffix(name, ".localhost"):
		return "a loopback name"
	case name == "metadata" || name == "metadata.google.internal":
		return "a metadata name"
	}
	return ""
}

// Parse builds a policy from the comma-separated allow and deny lists
// (CIDRs such as 10.0.0.0/8, single addresses, or host names, which match
// themselves and, written as .example.com, every name under example.com)
// and the management API's own listen addresses (host:port).
func Parse(allow, deny string, own ...string) (*Policy, error) {
	p := &Policy{}
	var err error
	if p.allow, p.allowNames, err = parseList(allow); err != nil {
		return nil, fmt.Errorf("KEYPLANE_GATEWAY_TARGETS_ALLOW: %w", err)
	}
	if p.deny, p.denyNames, err = parseList(deny); err != nil {
		return nil, fmt.Errorf("KEYPLANE_GATEWAY_TARGETS_DENY: %w", err)
	}
	for _, a := range own {
		if a == "" {
			continue
		}
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			return nil, fmt.Errorf("listen address %q: %w", a, err)
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("listen address %q: port %q is not a number", a, port)
		}
		var addrs []netip.Addr
		switch ip, err := netip.ParseAddr(host); {
		case host == "" || err == nil && ip.IsUnspecified():
			addrs = append(addrs, netip.IPv4Unspecified())
		case err == nil:
			addrs = append(addrs, ip.Unmap())
		default:
			ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", host)
			if err != nil {
				return nil, fmt.Errorf("listen address %q: %w", a, err)
			}
			for _, ip := range ips {
				addrs = append(addrs, ip.Unmap())
			}
		}
		for _, ip := range addrs {
			p.own = append(p.own, netip.AddrPortFrom(ip, uint16(n)))
		}
	}
	return p, nil
}

func parseList(s string) ([]netip.Prefix, []string, error) {
	var prefixes []netip.Prefix
	var names []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			pfx, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", item)
			}
			prefixes = append(prefixes, netip.PrefixFrom(pfx.Addr().Unmap(), bits(pfx)).Masked())
			continue
		}
		if ip, err := netip.ParseAddr(item); err == nil {
			ip = ip.Unmap()
			prefixes = append(prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(item, "."))
		if strings.ContainsAny(name, " :/[]") || name == "" || name == "." {
			return nil, nil, fmt.Errorf("%q is neither a CIDR, an address nor a host name", item)
		}
		names = append(names, name)
	}
	return prefixes, names, nil
}

// bits keeps a v4-mapped prefix's length meaningful once unmapped.
func bits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return max(p.Bits()-96, 0)
	}
	return p.Bits()
}

// RefusedError says that a target is outside the policy.
type RefusedError struct {
	// Target is the host or address refused.
	Target string
	// Why is the rule that refused it.
	Why string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("target %s is not allowed: %s", e.Target, e.Why)
}

func matchName(names []string, name string) bool {
	return slices.ContainsFunc(names, func(n string) bool {
		return n == name || strings.HasPrefix(n, ".") && strings.HasSuffix(name, n)
	})
}

func matchAddr(prefixes []netip.Prefix, ip netip.Addr) bool {
	return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(ip) })
}

// CheckAddr checks one address and port about to be dialled.
func (p *Policy) CheckAddr(ap netip.AddrPort) error {
	ip := ap.Addr().Unmap()
	target := netip.AddrPortFrom(ip, ap.Port()).String()
	for _, o := range p.own {
		if o.Port() == ap.Port() && (o.Addr() == ip || o.Addr().IsUnspecified() && local(ip)) {
			return &RefusedError{Target: target, Why: "it is the management API's own listen address"}
		}
	}
	if matchAddr(p.deny, ip) {
		return &RefusedError{Target: target, Why: "KEYPLANE_GATEWAY_TARGETS_DENY refuses it"}
	}
	if matchAddr(p.allow, ip) {
		return nil
	}
	for _, f := range fenced {
		if f.prefix.Contains(ip) {
			return &RefusedError{Target: target, Why: f.kind + ", refused unless KEYPLANE_GATEWAY_TARGETS_ALLOW allows it"}
		}
	}
	return nil
}

// local reports whether ip is an address of this host.
func local(ip netip.Addr) bool {
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if x, ok := netip.AddrFromSlice(n.IP); ok && x.Unmap() == ip {
				return true
			}
		}
	}
	return false
}

// resolveTimeout bounds the lookup of a target's name at deployment.
const resolveTimeout = 2 * time.Second

// CheckHost checks a target as a deployment names it: host (a name or an
// IP literal) and port. A name is checked as written, then every address
// it resolves to now; a name that does not resolve is not refused here
// (the gateway checks the address it finally dials).
func (p *Policy) CheckHost(ctx context.Context, host string, port int) error {
	h := normalize(host)
	if ip, err := netip.ParseAddr(h); err == nil {
		return p.CheckAddr(netip.AddrPortFrom(ip, uint16(port)))
	}
	if err := p.checkName(host, h); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
	if err != nil {
		return nil
	}
	for _, ip := range ips {
		if err := p.checkResolved(h, netip.AddrPortFrom(ip, uint16(port))); err != nil {
			return err
		}
	}
	return nil
}

func normalize(host string) string {
	return strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
}

// checkName checks a host name as written.
func (p *Policy) checkName(host, h string) error {
	if matchName(p.denyNames, h) {
		return &RefusedError{Target: host, Why: "KEYPLANE_GATEWAY_TARGETS_DENY refuses it"}
	}
	if why := fencedName(h); why != "" && !matchName(p.allowNames, h) {
		return &RefusedError{Target: host, Why: why + ", refused unless KEYPLANE_GATEWAY_TARGETS_ALLOW allows it"}
	}
	return nil
}

// checkResolved checks an address that name resolved to: a name the allow
// list names may resolve to fenced addresses (localhost to loopback), but
// never to the API's own address or a denied one.
func (p *Policy) checkResolved(name string, ap netip.AddrPort) error {
	err := p.CheckAddr(ap)
	if err == nil {
		return nil
	}
	re := err.(*RefusedError)
	if matchName(p.allowNames, name) && strings.HasSuffix(re.Why, "unless KEYPLANE_GATEWAY_TARGETS_ALLOW allows it") {
		return nil
	}
	re.Target = fmt.Sprintf("%s (%s)", name, re.Target)
	return re
}

// Control returns a net.Dialer Control function for connections to host
// (the name or IP literal a target names): after DNS resolution and before
// connecting, it refuses every address the policy refuses.
func (p *Policy) Control(host string) func(network, address string, c syscall.RawConn) error {
	h := normalize(host)
	_, literal := netip.ParseAddr(h)
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &RefusedError{Target: address, Why: "it is not an IP address and port"}
		}
		if literal == nil {
			return p.CheckAddr(ap)
		}
		if err := p.checkName(host, h); err != nil {
			return err
		}
		return p.checkResolved(h, ap)
	}
}
