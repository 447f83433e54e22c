package route

import "testing"

// BenchmarkMatch measures routing one request of each kind through the
// sample environment: run with go test -bench Match ./internal/route.
func BenchmarkMatch(b *testing.B) {
	table := compileEnv(b)
	for _, bc := range []struct {
		name, method, target string
		headers              []string
	}{
		{"configurable-root", "GET", "/mtls", nil},
		{"configurable-variable", "GET", "/shop/orders/42", nil},
		{"configurable-fifth-operation", "GET", "/shop/", nil},
		{"programmable-conditions", "GET", "/legacy/users/1", nil},
		{"programmable-query-condition", "GET", "/legacy/admin?role=admin", nil},
		{"no-route", "GET", "/shop/nothing/here", nil},
	} {
		r := request(bc.method, bc.target, bc.headers...)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if m, _ := table.Match(r); m != nil {
					_ = m.UpstreamPath()
				}
			}
		})
	}
}
