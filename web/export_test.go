package web

// APIRoutes returns "METHOD /path" of every API route, for tests.
func APIRoutes() []string {
	var out []string
	for _, r := range (&Server{}).apiRoutes() {
		out = append(out, r.method+" "+r.path)
	}
	return out
}
