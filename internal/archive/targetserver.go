package archive

import (
	"github.com/keyplane/keyplane"
)

// TargetServerBundle returns a bundle whose one proxy uses only ts, so that
// a caller validating a target server on its own (at create or update) asks
// it, as a deployment would, which references and TLS material to load.
func TargetServerBundle(ts keyplane.TargetServer) *Bundle {
	return &Bundle{
		Proxies:       []Proxy{{TargetServerIDs: []string{ts.Name}}},
		TargetServers: map[string]keyplane.TargetServer{ts.Name: ts},
	}
}

// CheckTargetServer validates the TLS settings of one target server against
// s, with the checks and texts of a deployment. It returns the warnings, or
// an InvalidArgument error `target server "x" contains invalid TLS
// settings: ...`.
func CheckTargetServer(ts keyplane.TargetServer, s *Snapshot) ([]string, error) {
	v := newValidator(s)
	if part := v.checkServer(TargetServerBundle(ts), ts.Name); part != "" {
		return nil, keyplane.Errorf(keyplane.InvalidArgument, "%s", part)
	}
	return v.warnings, nil
}
