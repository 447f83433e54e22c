package keyplane

// TLSMaterial is what an environment's TLS settings resolve against: its
// target servers and references by name, and keystores by name, each with
// its aliases by name. A keystore that exists is present even when it has
// no alias, so that "no such keystore" and "no such alias" are told apart.
type TLSMaterial struct {
	TargetServers map[string]TargetServer
	References    map[string]Reference
	Keystores     map[string]map[string]Alias
}
