package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The dashboard: static files embedded in the binary, served under /ui/ on
// the API's own listener. The page reads the API (services, explain, the
// event stream) from the same origin and loads nothing from anywhere else.
//
// With token-read on, a browser cannot put a bearer token on a page
// navigation, nor on an EventSource, which sends no custom header. The page
// therefore signs in once: POST /ui/login with the token as JSON sets a
// session cookie, and the reads accept that cookie in place of the header.
// The cookie is the safer of the two ways a browser can carry the
// credential: unlike ?token= in a URL, it never lands in access logs,
// proxies' logs, browser history or Referer headers, and unlike a token in
// sessionStorage it is HttpOnly, out of reach of any script on the page. It
// holds no token, only an expiry and an HMAC keyed with the token, so a
// changed token ends every session; it is SameSite=Strict (no other site
// can make the browser send it), Secure over TLS, and good for reads only:
// every write still needs the Authorization header.

//go:embed ui
var uiFiles embed.FS

const (
	uiCookie     = "signpost_ui"
	uiSessionTTL = 12 * time.Hour
	// uiPolicy lets the page load its own files and talk to its own origin,
	// nothing else, and keeps it out of frames.
	uiPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
		"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

func (h *handler) uiRoutes() {
	h.mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ui/", http.StatusMovedPermanently)
	})
	h.mux.Handle("GET /ui/", uiAssets())
	h.mux.HandleFunc("GET /ui/session", h.uiSessionState)
	h.mux.HandleFunc("POST /ui/login", h.uiLogin)
	h.mux.HandleFunc("POST /ui/logout", h.uiLogout)
}

// uiAssets serves the embedded files, with headers that keep the page to
// its own origin.
func uiAssets() http.Handler {
	sub, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the directory is embedded above
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uiHeaders(w)
		w.Header().Set("Cache-Control", "no-cache") // the files change with the binary
		files.ServeHTTP(w, r)
	})
}

func uiHeaders(w http.ResponseWriter) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", uiPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
}

// uiSessionJSON tells the page whether it must sign in.
type uiSessionJSON struct {
	TokenRequired bool `json:"token_required"`
	SignedIn      bool `json:"signed_in"`
}

// uiSessionState serves GET /ui/session.
func (h *handler) uiSessionState(w http.ResponseWriter, r *http.Request) {
	uiHeaders(w)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, uiSessionJSON{TokenRequired: h.readNeedsToken(), SignedIn: h.uiSession(r)})
}

// readNeedsToken reports whether reads need the token.
func (h *handler) readNeedsToken() bool { return h.opts.Token != "" && h.opts.TokenRead }

type uiLoginBody struct {
	Token string `json:"token"`
}

// uiLogin serves POST /ui/login: {"token": "..."} as JSON. With the right
// token it sets the session cookie and answers 204; with a wrong one, 401.
// Only JSON is taken, which a form on another site cannot send.
func (h *handler) uiLogin(w http.ResponseWriter, r *http.Request) {
	uiHeaders(w)
	if !isJSON(r) {
		refuse(w, r, http.StatusUnsupportedMediaType, `send the token as JSON: {"token": "..."} with Content-Type: application/json`)
		return
	}
	var body uiLoginBody
	if err := decodeBody(w, r, h.opts.MaxBodyBytes, &body); err != nil {
		h.fail(w, r, err)
		return
	}
	if h.opts.Token == "" {
		w.WriteHeader(http.StatusNoContent) // nothing to sign in to
		return
	}
	if !h.tokenMatches(body.Token) {
		writeError(w, http.StatusUnauthorized, "wrong token")
		return
	}
	expires := time.Now().Add(uiSessionTTL)
	http.SetCookie(w, &http.Cookie{
		Name: uiCookie, Value: h.uiSessionValue(expires.Unix()), Path: "/",
		MaxAge: int(uiSessionTTL / time.Second), HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	w.WriteHeader(http.StatusNoContent)
}

// uiLogout serves POST /ui/logout: the session cookie is dropped. Like
// the sign-in it takes JSON only, so that another site cannot sign the
// page out with a form.
func (h *handler) uiLogout(w http.ResponseWriter, r *http.Request) {
	uiHeaders(w)
	if !isJSON(r) {
		refuse(w, r, http.StatusUnsupportedMediaType, "send Content-Type: application/json")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: uiCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	w.WriteHeader(http.StatusNoContent)
}

func isJSON(r *http.Request) bool {
	media, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return media == "application/json"
}

// tokenMatches compares s with the token through their digests, in
// constant time.
func (h *handler) tokenMatches(s string) bool {
	got := sha256.Sum256([]byte(s))
	return hmac.Equal(got[:], h.token[:])
}

// uiSessionValue is the cookie of a session that ends at expires (Unix
// seconds): the expiry and its HMAC keyed with the token's digest.
func (h *handler) uiSessionValue(expires int64) string {
	exp := strconv.FormatInt(expires, 10)
	return exp + "." + hex.EncodeToString(h.uiMAC(exp))
}

func (h *handler) uiMAC(exp string) []byte {
	m := hmac.New(sha256.New, h.token[:])
	m.Write([]byte("signpost-ui-session|" + exp))
	return m.Sum(nil)
}

// uiSession reports whether r carries a live session cookie of this token.
func (h *handler) uiSession(r *http.Request) bool {
	if h.opts.Token == "" {
		return false
	}
	c, err := r.Cookie(uiCookie)
	if err != nil {
		return false
	}
	exp, mac, ok := strings.Cut(c.Value, ".")
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || time.Now().Unix() >= n {
		return false
	}
	got, err := hex.DecodeString(mac)
	return err == nil && hmac.Equal(got, h.uiMAC(exp))
}
