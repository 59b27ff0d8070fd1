package api

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestUIAssets(t *testing.T) {
	f := newFixture(t, Options{Token: "s3cret", TokenRead: true})
	if rec := f.do("GET", "/ui", ""); rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/ui/" {
		t.Errorf("GET /ui: %d %s", rec.Code, rec.Header().Get("Location"))
	}
	for path, ctype := range map[string]string{
		"/ui/":            "text/html",
		"/ui/app.js":      "text/javascript",
		"/ui/style.css":   "text/css",
		"/ui/favicon.svg": "image/svg+xml",
	} {
		// The files hold no data: they are served without the token, so
		// that the page can ask for it.
		rec := f.do("GET", path, "")
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %s", path, rec.Code, rec.Header().Get("Content-Type"))
		}
		if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, csp)
		}
	}
	if rec := f.do("GET", "/ui/nope.js", ""); rec.Code != http.StatusNotFound {
		t.Errorf("GET /ui/nope.js: %d", rec.Code)
	}
}

// Everything the page loads is named by a path on its own origin.
func TestUIReferencesOnlyItsOrigin(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		b, err := uiFiles.ReadFile("ui/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}|@import|url\(`).Find(b); m != nil {
			t.Errorf("%s refers to %q", name, m)
		}
	}
}

// session signs in to f's handler and returns the cookie it set.
func (f *fixture) session(token string) (*httptest.ResponseRecorder, *http.Cookie) {
	f.t.Helper()
	rec := f.do("POST", "/ui/login", `{"token":"`+token+`"}`, "Content-Type", "application/json")
	for _, c := range rec.Result().Cookies() {
		if c.Name == uiCookie {
			return rec, c
		}
	}
	return rec, nil
}

func TestUILogin(t *testing.T) {
	f := newFixture(t, Options{Token: "s3cret", TokenRead: true})
	f.register("web", "w1", web1)

	if rec := f.do("GET", "/v1/services", ""); rec.Code != http.StatusUnauthorized {
		t.Fatalf("a read without the token: %d", rec.Code)
	}
	if rec, c := f.session("wrong"); rec.Code != http.StatusUnauthorized || c != nil {
		t.Errorf("a wrong token: %d, cookie %v", rec.Code, c)
	}
	if rec := f.do("POST", "/ui/login", "token=s3cret", "Content-Type", "application/x-www-form-urlencoded"); rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("a form, as another site could post: %d", rec.Code)
	}
	if rec := f.do("POST", "/ui/login", `{"token":"s3cret","x":1}`, "Content-Type", "application/json"); rec.Code != http.StatusBadRequest {
		t.Errorf("an unknown field: %d", rec.Code)
	}

	rec, c := f.session("s3cret")
	if rec.Code != http.StatusNoContent || c == nil {
		t.Fatalf("sign-in: %d, cookie %v", rec.Code, c)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge != int(uiSessionTTL/time.Second) {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/, Max-Age 12h", c)
	}
	if strings.Contains(c.Value, "s3cret") {
		t.Errorf("the cookie holds the token: %q", c.Value)
	}
	cookie := c.Name + "=" + c.Value
	for _, path := range []string{"/v1/services", "/v1/services/web", "/v1/events"} {
		if rec := f.do("GET", path, "", "Cookie", cookie); rec.Code != http.StatusOK {
			t.Errorf("GET %s with the session: %d %s", path, rec.Code, rec.Body)
		}
	}
	if rec := f.do("GET", "/ui/session", "", "Cookie", cookie); strings.TrimSpace(rec.Body.String()) != `{"token_required":true,"signed_in":true}` {
		t.Errorf("session state: %s", rec.Body)
	}
	// The session is for reads: writes still need the header.
	if rec := f.do("DELETE", "/v1/services/web/instances/w1", "", "Cookie", cookie); rec.Code != http.StatusUnauthorized {
		t.Errorf("a write with the session cookie only: %d", rec.Code)
	}

	exp, mac, _ := strings.Cut(c.Value, ".")
	for name, value := range map[string]string{
		"a forged MAC":       exp + "." + strings.Repeat("0", len(mac)),
		"a moved expiry":     "9999999999." + mac,
		"no MAC":             exp,
		"an expired session": f.h.uiSessionValue(time.Now().Add(-time.Minute).Unix()),
		"another token's":    newHandler(f.reg, Options{Token: "other", TokenRead: true}).uiSessionValue(time.Now().Add(time.Hour).Unix()),
		"not hex":            exp + ".zz",
	} {
		if rec := f.do("GET", "/v1/services", "", "Cookie", uiCookie+"="+value); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: %d", name, rec.Code)
		}
	}

	if rec := f.do("POST", "/ui/logout", "", "Content-Type", "application/x-www-form-urlencoded"); rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("a form signing out, as another site could post: %d", rec.Code)
	}
	rec = f.do("POST", "/ui/logout", "{}", "Content-Type", "application/json")
	if cs := rec.Result().Cookies(); rec.Code != http.StatusNoContent || len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Errorf("sign-out: %d %v", rec.Code, cs)
	}
}

func TestUIWithoutReadToken(t *testing.T) {
	for _, opts := range []Options{{}, {Token: "s3cret"}} {
		f := newFixture(t, opts)
		if rec := f.do("GET", "/ui/session", ""); strings.TrimSpace(rec.Body.String()) != `{"token_required":false,"signed_in":false}` {
			t.Errorf("token %q: session state %s", opts.Token, rec.Body)
		}
	}
	f := newFixture(t, Options{})
	if rec, c := f.session("anything"); rec.Code != http.StatusNoContent || c != nil {
		t.Errorf("sign-in to a server without a token: %d, cookie %v", rec.Code, c)
	}
}
