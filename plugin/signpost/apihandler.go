package signpost

import (
	"net/http"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/registry"
)

func newAPIHandler(reg *registry.Registry, cfg apiConfig) http.Handler {
	return api.NewHandler(reg, api.Options{
		Token: cfg.token, TokenRead: cfg.tokenRead, CheckTargets: cfg.checkTargets, Logger: log,
	})
}
