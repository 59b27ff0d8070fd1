package signpost

import (
	"strings"
	"testing"

	"github.com/coredns/caddy"
)

// The event log's Corefile options: its size, and serve-warning, which
// failover events follow as the answers do.
func TestParseEvents(t *testing.T) {
	cfg, err := parse(caddy.NewTestController("dns", "signpost svc.internal {\nevents 50\nserve-warning\n}"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.regCfg.Events != 50 || !cfg.regCfg.ServeWarning {
		t.Errorf("events %d, serve-warning %v; want 50 and true", cfg.regCfg.Events, cfg.regCfg.ServeWarning)
	}
	cfg, err = parse(caddy.NewTestController("dns", "signpost svc.internal"))
	if err != nil || cfg.regCfg.Events != 0 || cfg.regCfg.ServeWarning {
		t.Errorf("defaults: %+v, %v; want the registry's default size and no serve-warning", cfg.regCfg, err)
	}
	for _, bad := range []string{"events", "events 0", "events -1", "events x", "events 1 2", "events 1000001"} {
		_, err := parse(caddy.NewTestController("dns", "signpost svc.internal {\n"+bad+"\n}"))
		if err == nil || !strings.Contains(err.Error(), "events") && !strings.Contains(err.Error(), "argument") {
			t.Errorf("%q: %v, want an error naming events", bad, err)
		}
	}
}
