package signpost

import (
	"net/http"

	"github.com/signpost-dns/signpost/registry"
)

func newAPIHandler(reg *registry.Registry, cfg apiConfig) http.Handler {
	return http.NotFoundHandler()
}
