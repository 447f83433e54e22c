// Package chaos holds the chaos test of keyplane (chaos_test.go): several
// servers and a gateway on one PostgreSQL, a storm of deployments, servers
// killed, the database restarted and certificates rotated under gateway
// load, with what must hold through it asserted and its figures printed.
// `make chaos` runs it for KEYPLANE_CHAOS_DURATION (CHAOS_DURATION, default
// 2m); `make test` runs it for 40 seconds.
package chaos
