package gateway

import "testing"

func TestHostOf_NamesTheEnvironmentLabel(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]string{
		"myorg-dev.localhost":          "myorg-dev",
		"MyOrg-Dev.LOCALHOST:8443":     "myorg-dev",
		"myorg-dev.localhost.":         "myorg-dev",
		"my-org-my-env.localhost":      "my-org-my-env",
		"localhost":                    "",
		"myorg-dev.example.com":        "",
		"a.myorg-dev.localhost":        "", // only one label before the domain
		"myorg-dev.localhost.evil.com": "",
		"[::1]:8443":                   "",
		"":                             "",
	} {
		if got := hostOf(host, "localhost"); got != want {
			t.Errorf("hostOf(%q) = %q, want %q", host, got, want)
		}
	}
	if got := hostOf("myorg-dev.apis.example.com", "apis.example.com"); got != "myorg-dev" {
		t.Errorf("hostOf with a multi-label domain = %q", got)
	}
}
