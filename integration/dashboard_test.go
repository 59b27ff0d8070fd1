package integration

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The dashboard is tested in a real headless Chromium driven over the
// DevTools protocol: the page loads from the server's API listener and
// follows the registry through the event stream, without reloading.

// pageBound bounds every wait on the page's DOM.
const pageBound = 15 * time.Second

// dashboardCorefile serves the API with a probed service that fails over,
// so that the page has explanations, records and events of every kind.
const dashboardCorefile = `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        api {{API}}
        %s
        service mysql {
            instance db1 127.0.0.1:{{DBPORT}} tags primary
            check tcp interval 200ms timeout 100ms rise 1 fall 1
            failover 10.0.0.100
            min-healthy 1
        }
    }
    errors
}
`

// browser is one headless Chromium with one tab, and the URLs it requested.
type browser struct {
	ctx context.Context

	mu   sync.Mutex
	urls []string
}

// startBrowser starts Chromium with a fresh profile. The flags keep it from
// reaching out on its own (background networking, component updates, sync,
// QUIC): the only requests it makes are the page's.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	path := requireTool(t, "chromium", "chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	b.ctx = ctx
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now, so that a broken install fails here with its
	// own error. The first call's context lives as long as the browser, so
	// it carries no timeout: the bound is kept from outside.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx, chromedp.Navigate("about:blank")) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting %s: %v", path, err)
		}
	case <-time.After(pageBound):
		cancel()
		<-started
		t.Fatalf("%s did not start within %v", path, pageBound)
	}
	return b
}

func (b *browser) listen(ev any) {
	if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Request != nil {
		b.mu.Lock()
		b.urls = append(b.urls, e.Request.URL)
		b.mu.Unlock()
	}
}

func (b *browser) requested() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.urls...)
}

// do runs actions on the tab, within pageBound.
func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageBound)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		html, _ := b.html()
		t.Fatalf("%s: %v\npage:\n%s", what, err, abridge(html, 80))
	}
}

// text returns the text of the first element sel matches, once there is
// one, within pageBound. It is read in one evaluation: the page replaces
// its nodes as it re-renders, and a node looked up in one step may be gone
// in the next.
func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	b.do(t, "wait for "+sel, visible(sel))
	return b.eval(t, "(document.querySelector("+strconv.Quote(sel)+") || {}).innerText || ''")
}

func (b *browser) eval(t *testing.T, expr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageBound)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return s
}

// goTo follows a link of the page to fragment, as a click does, in the
// same document. (A click races the page's re-rendering of its links.)
func (b *browser) goTo(t *testing.T, fragment string) {
	t.Helper()
	b.eval(t, "location.hash = '"+fragment+"'")
}

func (b *browser) html() (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement.outerHTML"))
}

// void runs a and drops its value.
func void[T any](a chromedp.Action[T]) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := a(ctx, t)
		return chromedp.Void{}, err
	}
}

func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

func goneFromPage(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitNotPresent(chromedp.CSS(sel))
}

// checkOrigin fails the test for any URL the page requested outside the
// API's origin.
func (b *browser) checkOrigin(t *testing.T, origin string) {
	t.Helper()
	urls := b.requested()
	if len(urls) == 0 {
		t.Fatal("no request recorded")
	}
	for _, u := range urls {
		if u != "about:blank" && !strings.HasPrefix(u, origin+"/") {
			t.Errorf("the page requested %s, outside %s", u, origin)
		}
	}
}

func TestDashboard(t *testing.T) {
	// mysql's probe finds its port closed: nothing listens on a port
	// freePort handed out.
	corefile := strings.NewReplacer("%s", "deregister-after 1h", "{{DBPORT}}", strconv.Itoa(freePort(t))).Replace(dashboardCorefile)
	s := startServer(t, corefile)
	api := s.api()
	api.waitReady(t)
	b := startBrowser(t)

	// The list of services, then a service page, with no instance yet.
	b.do(t, "open the dashboard", chromedp.Navigate(s.apiURL+"/ui/"), visible(`#services tr[data-service="mysql"]`))
	if got := b.text(t, `#services tr[data-service="mysql"]`); !strings.Contains(got, "ACTIVE: to 10.0.0.100 below 1 healthy") {
		t.Errorf("mysql's row: %q", got)
	}
	// A probed instance shows its probe's last output.
	b.goTo(t, "#/service/mysql")
	b.do(t, "open mysql's page", visible(`#instances tr[data-instance="db1"][data-health="critical"] .probe .output`))
	if got := b.text(t, `#instances tr[data-instance="db1"] .probe`); !strings.Contains(got, "connection refused") {
		t.Errorf("db1's last probe: %q", got)
	}
	if got := b.text(t, `dd[data-fact="Failover"]`); !strings.HasPrefix(got, "ACTIVE") {
		t.Errorf("mysql's failover: %q", got)
	}
	b.goTo(t, "#/")
	b.do(t, "back to the list", visible(`#services tr[data-service="mysql"]`))
	b.eval(t, "window.signpostMark = 'loaded once'")
	api.expect(t, http.StatusOK, http.MethodPut, instPath("web", "w2"), regBody("10.0.0.7", 8080, `, "ttl": "30s", "tags": ["blue"]`))
	b.do(t, "see web appear in the list", visible(`#services tr[data-service="web"]`))
	if href := b.eval(t, `document.querySelector('#services tr[data-service="web"] a').getAttribute('href')`); href != "#/service/web" {
		t.Errorf("web's link: %q", href)
	}
	b.goTo(t, "#/service/web")
	b.do(t, "open web's page", visible(`#instances tr[data-instance="w2"]`))

	// An instance registered through the API appears without a reload.
	api.expect(t, http.StatusOK, http.MethodPut, instPath("web", "w1"), regBody("10.0.0.5", 8080, `, "ttl": "2s", "tags": ["blue"]`))
	b.do(t, "see w1 appear", visible(`#instances tr[data-instance="w1"][data-health="passing"]`),
		visible(`#events li[data-type="registered"][data-instance="w1"]`))
	if got := b.text(t, `#instances tr[data-instance="w1"]`); !strings.Contains(got, "runs out in") || !strings.Contains(got, "lease") {
		t.Errorf("w1's row shows no lease countdown: %q", got)
	}
	b.do(t, "see the records dig gets", visible(`#records pre[data-question="web.svc.internal. A"]`))
	if got := b.text(t, `#records pre[data-question="web.svc.internal. A"]`); !strings.Contains(got, "10.0.0.5") || !strings.Contains(got, "10.0.0.7") {
		t.Errorf("web's A records: %q", got)
	}
	if got := b.text(t, `dd[data-fact="Staleness budget"]`); !strings.Contains(got, "detection") {
		t.Errorf("staleness budget: %q", got)
	}

	// Its heartbeats never come: its lease runs out, and the page says so
	// and why.
	b.do(t, "see w1 go critical", visible(`#instances tr[data-instance="w1"][data-health="critical"]`),
		visible(`#events li[data-type="expired"][data-instance="w1"]`))
	if got := b.text(t, `#events li[data-type="expired"][data-instance="w1"]`); !strings.Contains(got, "lease ran out: no heartbeat within its TTL of 2s") {
		t.Errorf("the expiry event: %q", got)
	}
	if got := b.text(t, `#instances tr[data-instance="w1"]`); !strings.Contains(got, "ran out") || !strings.Contains(got, "no") {
		t.Errorf("w1's row after expiry: %q", got)
	}
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	if os.Getenv("SIGNPOST_SCREENSHOT") == "1" {
		shot = filepath.Join("..", "docs", "dashboard.png")
	}
	b.screenshot(t, shot)

	// Deregistered, it leaves the page.
	api.expect(t, http.StatusNoContent, http.MethodDelete, instPath("web", "w1"), "")
	b.do(t, "see w1 go", goneFromPage(`#instances tr[data-instance="w1"]`),
		visible(`#events li[data-type="deregistered"][data-instance="w1"]`))

	if mark := b.eval(t, "String(window.signpostMark)"); mark != "loaded once" {
		t.Errorf("the page reloaded (mark %q)", mark)
	}
	b.checkOrigin(t, s.apiURL)
}

// screenshot writes a PNG of the whole page to path.
func (b *browser) screenshot(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageBound)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the service page: %s (%d bytes)", path, len(png))
}

// With token-read, the page asks for the token, signs in with a session
// cookie, and reads and follows the registry with it.
func TestDashboardSignIn(t *testing.T) {
	corefile := strings.NewReplacer("%s", "token s3cret\n        token-read on", "{{DBPORT}}", strconv.Itoa(freePort(t))).Replace(dashboardCorefile)
	s := startServer(t, corefile)
	api := s.api().withToken("s3cret")
	api.waitReady(t)
	b := startBrowser(t)

	b.do(t, "open the dashboard", chromedp.Navigate(s.apiURL+"/ui/#/service/web"), visible(`#login`))
	b.do(t, "sign in with a wrong token", chromedp.SendKeys(chromedp.CSS(`#token`), "wrong"),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)))
	b.do(t, "see the refusal", void(chromedp.Poll[bool](`document.getElementById('login-error').textContent.includes('wrong token')`)))
	b.eval(t, "document.getElementById('token').value = ''")
	b.do(t, "sign in", chromedp.SendKeys(chromedp.CSS(`#token`), "s3cret"),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)), visible(`#service[data-gone]`))

	api.expect(t, http.StatusOK, http.MethodPut, instPath("web", "w1"), regBody("10.0.0.5", 8080, `, "ttl": "1h"`))
	b.do(t, "see w1 appear over the signed-in stream", visible(`#instances tr[data-instance="w1"][data-health="passing"]`),
		visible(`#events li[data-type="registered"][data-instance="w1"]`))

	// The page never holds the token: the session cookie is HttpOnly.
	if got := b.eval(t, "document.cookie + '|' + JSON.stringify(sessionStorage) + JSON.stringify(localStorage)"); strings.Contains(got, "s3cret") || strings.Contains(got, "signpost_ui") {
		t.Errorf("the token or the session is readable by scripts: %q", got)
	}
	b.do(t, "sign out", chromedp.Click(chromedp.CSS(`#logout`)), visible(`#login`))
	if r := (apiConn{base: s.apiURL, hc: httpClient}).do(t, http.MethodGet, "/v1/services", ""); r.code != http.StatusUnauthorized {
		t.Errorf("a read without the token or a session: %v", r)
	}
	b.checkOrigin(t, s.apiURL)
}
