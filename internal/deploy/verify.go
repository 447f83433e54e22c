package deploy

import (
	"github.com/keyplane/keyplane"
)

// CheckUpload verifies a signed upload URL's token (signature, purpose and
// expiry) without touching the database, so that a request with a forged
// or stale URL is refused before its body is read. It returns the
// organization the upload belongs to and the upload's resource name, for
// the audit log.
func (s *Service) CheckUpload(token string) (org, resource string, err error) {
	c, err := s.sign.verify(token, "upload", s.now())
	if err != nil {
		return "", "", err
	}
	return c.Org, keyplane.EnvName(c.Org, c.Env) + "/archiveUploads/" + c.ID.String(), nil
}
