package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// write guards a handler that changes the registry: it needs the token
// whenever one is set.
func (h *handler) write(next http.HandlerFunc) http.Handler {
	return h.guard(next, true)
}

// read guards a handler that reads the registry: it needs the token only
// with TokenRead.
func (h *handler) read(next http.HandlerFunc) http.Handler {
	return h.guard(next, h.opts.TokenRead)
}

func (h *handler) guard(next http.HandlerFunc, needToken bool) http.Handler {
	if h.opts.Token == "" || !needToken {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="signpost"`)
			writeError(w, http.StatusUnauthorized, "missing or invalid token: send \"Authorization: Bearer <token>\"")
			return
		}
		next(w, r)
	})
}

// authorized reports whether r carries the token. Digests of equal length
// are compared so that the time taken reveals neither the token nor its
// length.
func (h *handler) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], h.token[:]) == 1
}
