package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Each reload below changes something else in the Corefile, and a new static
// service (marker) shows when it has been applied. The instance registered
// through the API before the first must survive every one.
var reloadSteps = []struct {
	what     string
	corefile string
	marker   string // name that resolves once this Corefile is applied
	addr     string // what it resolves to
}{
	{"a second zone in the server block's key", `svc.internal:{{PORT}} other.internal:{{PORT}} {
    signpost {
        api {{API}}
        service marker1 {
            instance m 10.0.9.1:80
        }
    }
    reload 2s 0s
}
`, "marker1.other.internal.", "10.0.9.1"},
	{"the ttl and a service with a check", `svc.internal:{{PORT}} other.internal:{{PORT}} {
    signpost {
        api {{API}}
        ttl 7s
        service marker2 {
            instance m 10.0.9.2:80
        }
        service probed {
            instance p 127.0.0.1:9
            check tcp interval 1s timeout 500ms
        }
    }
    reload 2s 0s
}
`, "marker2.svc.internal.", "10.0.9.2"},
	{"a second server block", `svc.internal:{{PORT}} other.internal:{{PORT}} {
    signpost {
        api {{API}}
        ttl 7s
        service marker3 {
            instance m 10.0.9.3:80
        }
    }
    reload 2s 0s
}

static.internal:{{PORT}} {
    signpost {
        service fixed {
            instance f 10.0.9.9:80
        }
    }
}
`, "marker3.svc.internal.", "10.0.9.3"},
	{"the second block removed and a zone dropped", `svc.internal:{{PORT}} {
    signpost {
        api {{API}}
        service marker4 {
            instance m 10.0.9.4:80
        }
    }
    reload 2s 0s
}
`, "marker4.svc.internal.", "10.0.9.4"},
}

func TestReloadKeepsRegistrationsWhateverChanges(t *testing.T) {
	s := startServer(t, `svc.internal:{{PORT}} {
    signpost {
        api {{API}}
    }
    reload 2s 0s
}
`)
	if !s.register(t, "dyn", "d1", "10.0.5.1", 8080) {
		t.FailNow()
	}
	for _, step := range reloadSteps {
		s.writeCorefile(step.corefile)
		zone := step.marker[strings.Index(step.marker, ".")+1:]
		if !s.waitAddrs(t, step.marker, []string{step.addr}, 0, reloadWait) {
			t.Fatalf("after changing %s: the reload was not applied", step.what)
		}
		if got, _, _ := s.addrsOf(t, "dyn."+zone); strings.Join(got, ",") != "10.0.5.1" {
			t.Errorf("after changing %s: A dyn.%s = %v, want [10.0.5.1]: the registration was lost", step.what, zone, got)
		}
		code, body := s.call(http.MethodGet, "/v1/services", nil)
		if code != http.StatusOK || !strings.Contains(body, `"service":"dyn"`) {
			t.Errorf("after changing %s: GET /v1/services: %d %s, want dyn listed", step.what, code, body)
		}
	}
}

// writeFile writes a Corefile for a process started by hand.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mustFailToStart runs signpost on corefile, which must make it exit with an
// error within the ready timeout, and returns its output.
func mustFailToStart(t *testing.T, corefile string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, signpostBin, "-conf", corefile)
	cmd.WaitDelay = stopTimeout
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("signpost still running after %v; it should have refused to start. Output:\n%s", readyTimeout, out)
	}
	if err == nil {
		t.Fatalf("signpost exited 0; it should have refused to start. Output:\n%s", out)
	}
	return string(out)
}

func TestSecondProcessOnTheAPIAddressFails(t *testing.T) {
	a := startServer(t, `svc.internal:{{PORT}} {
    signpost {
        api {{API}}
    }
}
`)
	api := strings.TrimPrefix(a.apiURL, "http://")
	corefile := writeFile(t, t.TempDir(), "Corefile", fmt.Sprintf(`svc.internal:%d {
    signpost {
        api %s
    }
}
`, freePort(t), api))
	out := mustFailToStart(t, corefile)
	if !strings.Contains(out, "api "+api) {
		t.Errorf("the error does not name the api address %s:\n%s", api, out)
	}

	// Every registration lands in the one registry that runs.
	const n = 10
	for i := range n {
		if !a.register(t, "web", "w"+strconv.Itoa(i), fmt.Sprintf("10.0.6.%d", i+1), 80) {
			t.FailNow()
		}
	}
	code, body := a.call(http.MethodGet, "/v1/services/web", nil)
	var svc struct {
		Instances []json.RawMessage `json:"instances"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &svc) != nil || len(svc.Instances) != n {
		t.Errorf("GET /v1/services/web: %d, %d instances, want %d", code, len(svc.Instances), n)
	}
	if got, _, _ := a.addrsOf(t, "web.svc.internal."); len(got) != n {
		t.Errorf("A web.svc.internal: %d addresses, want %d", len(got), n)
	}
}

func TestTwoServerBlocksOnOneAPIAddressIsACorefileError(t *testing.T) {
	dir := t.TempDir()
	api := "127.0.0.1:" + strconv.Itoa(freePort(t))
	corefile := writeFile(t, dir, "Corefile", fmt.Sprintf(`svc.internal:%d {
    signpost {
        api %s
    }
}

other.internal:%d {
    signpost {
        api %s
    }
}
`, freePort(t), api, freePort(t), api))
	out := mustFailToStart(t, corefile)
	for _, want := range []string{corefile + ":3", corefile + ":9", "api " + api} {
		if !strings.Contains(out, want) {
			t.Errorf("the error does not name %s:\n%s", want, out)
		}
	}
	// The address was never bound.
	if ln, err := net.Listen("tcp", api); err != nil {
		t.Errorf("the api address is held after the refused start: %v", err)
	} else {
		ln.Close()
	}
}
