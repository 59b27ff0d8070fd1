package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// badStartTimeout bounds how long a binary with a bad Corefile may run: it
// must stop at parse time, long before this.
const badStartTimeout = 10 * time.Second

// TestCorefileErrors starts the binary on Corefiles with one mistake each
// and expects a quick non-zero exit with a message naming the line.
func TestCorefileErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		corefile string
		line     int
		mention  string // a word the message must hold
	}{
		{"unknown property", `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        bogus 1
    }
}
`, 4, "bogus"},
		{"unknown property in a service", `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        service mysql {
            instance db1 10.0.0.5:3306
            colour blue
        }
    }
}
`, 6, "colour"},
		{"bad duration", `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        ttl 5parsecs
    }
}
`, 4, "5parsecs"},
		{"bad negative-ttl", `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        ttl 5s
        negative-ttl soon
    }
}
`, 5, "soon"},
		{"bad instance address", `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        service mysql {
            instance db1 10.0.0.300:3306
        }
    }
}
`, 5, "10.0.0.300"},
		{"bad api address", `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        api localhost-no-port
    }
}
`, 4, "localhost-no-port"},
		{"bad failover address", `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        service mysql {
            instance db1 10.0.0.5:3306
            failover 10.0.0.999
        }
    }
}
`, 6, "10.0.0.999"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			port := freePort(t)
			text := strings.ReplaceAll(c.corefile, "{{PORT}}", strconv.Itoa(port))
			if err := os.WriteFile(filepath.Join(dir, "Corefile"), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), badStartTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, signpostBin, "-conf", "Corefile")
			cmd.Dir = dir
			cmd.WaitDelay = stopTimeout
			start := time.Now()
			out, err := cmd.CombinedOutput()
			elapsed := time.Since(start)
			if ctx.Err() != nil {
				t.Fatalf("still running after %v; it must refuse the Corefile at start-up\n%s", badStartTimeout, out)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("exit %v, want a non-zero exit status\n%s", err, out)
			}
			want := "Corefile:" + strconv.Itoa(c.line)
			if !strings.Contains(string(out), want) || !strings.Contains(string(out), c.mention) {
				t.Errorf("message does not name %s and %q:\n%s", want, c.mention, out)
			}
			t.Logf("exit %d after %v: %s", ee.ExitCode(), elapsed.Round(time.Millisecond), lastLine(string(out)))
		})
	}
}
