package api

import (
	"net/url"
	"testing"
)

func TestRedact_DropsSignedURLCredentials(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://127.0.0.1:8080/archives/eyJwIjoidXBsb2FkIn0.c2ln":       "http://127.0.0.1:8080/archives/REDACTED",
		"https://storage.example.com/bucket/a.zip?X-Goog-Signature=abc": "https://storage.example.com/bucket/a.zip",
		"https://user:secret@example.com/v1/x":                          "https://example.com/v1/x",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redact(u); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
