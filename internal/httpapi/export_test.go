package httpapi

// AppendIndented is appendIndented, for the tests of package httpapi_test.
var AppendIndented = appendIndented

// RouteNames is how many chains of route patterns the server remembers.
func (s *Server) RouteNames() int {
	s.routeNames.mu.RLock()
	defer s.routeNames.mu.RUnlock()
	return len(s.routeNames.m)
}
