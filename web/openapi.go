package web

import (
	_ "embed"
	"net/http"

	"github.com/sekisho/sekisho"
)

// openAPIDoc describes the JSON API; TestOpenAPIMatchesRoutes keeps it in
// step with apiRoutes, so clients can generate code from what runs.
//
//go:embed openapi.yaml
var openAPIDoc []byte

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request, _ sekisho.Actor) error {
	w.Header().Set("Content-Type", "application/yaml")
	w.WriteHeader(http.StatusOK)
	w.Write(openAPIDoc) // a failed write means the client went away
	return nil
}
