package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLists_UnderAMissingParentAreNotFound(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	for path, want := range map[string]string{
		"/v1/organizations/nope/environments":                          `organization "nope" not found`,
		"/v1/organizations/nope/operations":                            `organization "nope" not found`,
		"/v1/organizations/myorg/environments/nope/keystores":          `environment "organizations/myorg/environments/nope" not found`,
		"/v1/organizations/myorg/environments/nope/references":         `environment "organizations/myorg/environments/nope" not found`,
		"/v1/organizations/myorg/environments/nope/targetservers":      `environment "organizations/myorg/environments/nope" not found`,
		"/v1/organizations/myorg/environments/nope/archiveDeployments": `environment "organizations/myorg/environments/nope" not found`,
	} {
		b.c.fails("GET", path, "", 404, "NOT_FOUND", want)
	}
	require.JSONEq(t, `[]`, string(b.c.ok("GET", envPath+"/keystores", "")), "an empty list of an existing parent")
}

func TestPageTokens_CraftedAreInvalidArguments(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	crafted := "MTc5NTY2NzA5MDMzMDAwMHxub3QtYS11dWlk" // "1795667090330000|not-a-uuid"
	for _, path := range []string{"/v1/organizations/myorg/operations", "/v1/organizations/myorg/tokens", envPath + "/archiveDeployments"} {
		r := b.c.do("GET", path+"?pageToken="+crafted, "")
		require.NotEqual(t, 500, r.Status, path)
	}
	b.c.fails("GET", "/v1/organizations/myorg/operations?pageToken="+crafted, "", 400, "INVALID_ARGUMENT", "pageToken is invalid")
	b.c.fails("GET", "/v1/organizations/myorg/tokens?pageToken="+crafted, "", 400, "INVALID_ARGUMENT", "pageToken is invalid")
	b.c.fails("GET", "/v1/organizations/myorg/operations?pageToken=%25%25", "", 400, "INVALID_ARGUMENT", "pageToken is invalid")
}
