package postgres

// The decoders of aliases.certs_info, for the tests of package
// postgres_test (which cannot be package postgres: pgtest imports it).
var (
	MarshalCertsInfo       = marshalCertsInfo
	ScanCertsInfo          = scanCertsInfo
	UnmarshalCertsInfo     = unmarshalCertsInfo
	UnmarshalCertsInfoJSON = unmarshalCertsInfoJSON
)
