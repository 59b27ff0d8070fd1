package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"
)

// write guards a handler that changes the registry: it needs the token
// whenever one is set.
func (h *handler) write(next http.HandlerFunc) http.Handler {
	return h.guard(next, true)
}

// read guards a handler that reads the registry: it needs the token only
// with TokenRead, and takes the dashboard's session cookie for it (see
// ui.go).
func (h *handler) read(next http.HandlerFunc) http.Handler {
	guarded := h.guard(next, h.opts.TokenRead)
	if !h.readNeedsToken() {
		return guarded
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.uiSession(r) {
			next(w, r)
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

// admin guards a handler that returns secrets or replaces the registry (a
// backup and its restore). It needs the token, and a server without one
// refuses it outright: there, anyone who reaches the port could read every
// check's credentials or wipe every registration.
func (h *handler) admin(next http.HandlerFunc) http.Handler {
	if h.opts.Token == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			refuse(w, r, http.StatusForbidden, r.Method+" "+r.URL.Path+
				` needs a token and this server has none: set "token" or "token-file" in the signpost block of the Corefile`)
		})
	}
	return h.guard(next, true)
}

func (h *handler) guard(next http.HandlerFunc, needToken bool) http.Handler {
	if h.opts.Token == "" || !needToken {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !h.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="signpost"`)
			refuse(w, r, http.StatusUnauthorized, "missing or invalid token: send \"Authorization: Bearer <token>\"")
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
	return h.validToken(strings.TrimSpace(token))
}

// validToken reports whether token is the server's token, however the
// request carried it.
func (h *handler) validToken(token string) bool {
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], h.token[:]) == 1
}

// refuseDrain is how long the body of a refused request may take to
// arrive, so that a client which sends it is not reset before it reads the
// answer.
const refuseDrain = time.Second

// refuse answers a request that is turned away before its body is read.
// Left alone, net/http would read what is left of a small body (up to 256
// KiB) to keep the connection, and send the answer only then: a client
// that declares a body and never sends it would hold the connection,
// unanswered, until the server's read timeout. Instead the answer goes out
// at once, the connection closes after it, and the body gets refuseDrain
// to arrive and be dropped.
func refuse(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if r.ContentLength != 0 { // -1: a chunked body of unknown length
		w.Header().Set("Connection", "close")
		// Not every ResponseWriter supports deadlines (a test recorder does
		// not); where one does not, there is no connection to hold.
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(refuseDrain))
	}
	writeError(w, status, msg)
}
