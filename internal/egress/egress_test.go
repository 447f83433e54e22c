package egress_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/egress"
)

// A name that passes as written but resolves to a fenced address when the
// gateway connects (DNS rebinding) is refused at that moment: Control sees
// the address dialled.
func TestControl_RefusesWhatANameResolvesTo(t *testing.T) {
	t.Parallel()
	p, err := egress.Parse("", "", "127.0.0.1:8080")
	require.NoError(t, err)
	control := p.Control("rebind.example.com")
	require.NoError(t, control("tcp", "93.184.216.34:443", nil))
	require.ErrorContains(t, control("tcp", "127.0.0.1:80", nil), "target rebind.example.com (127.0.0.1:80) is not allowed: a loopback address")
	require.ErrorContains(t, control("tcp", "[fe80::1]:80", nil), "a link-local address")
	require.ErrorContains(t, control("tcp", "169.254.169.254:80", nil), "a metadata address")

	// An allowed name may lead to loopback, never to the API itself.
	p, err = egress.Parse("localhost", "", "127.0.0.1:8080")
	require.NoError(t, err)
	require.NoError(t, p.Control("localhost")("tcp", "127.0.0.1:9000", nil))
	require.ErrorContains(t, p.Control("localhost")("tcp", "127.0.0.1:8080", nil), "the management API's own listen address")
	require.ErrorContains(t, p.Control("other.example")("tcp", "127.0.0.1:9000", nil), "a loopback address")
}

// An API listening on every address refuses its port on every address of
// the host, loopback included.
func TestCheckAddr_UnspecifiedListenAddressCoversTheHost(t *testing.T) {
	t.Parallel()
	p, err := egress.Parse(egress.Loopback, "", "0.0.0.0:8080")
	require.NoError(t, err)
	require.ErrorContains(t, p.CheckHost(context.Background(), "127.0.0.1", 8080), "own listen address")
	require.NoError(t, p.CheckHost(context.Background(), "127.0.0.1", 8081))
}

func TestParse_RefusesWhatIsNotAListItem(t *testing.T) {
	t.Parallel()
	_, err := egress.Parse("10.0.0.0/33", "")
	require.ErrorContains(t, err, `KEYPLANE_GATEWAY_TARGETS_ALLOW: "10.0.0.0/33" is not a CIDR`)
	_, err = egress.Parse("", "a b")
	require.ErrorContains(t, err, `KEYPLANE_GATEWAY_TARGETS_DENY: "a b" is neither a CIDR, an address nor a host name`)
}
