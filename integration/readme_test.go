package integration

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readmeExample is one "$ command" line of a sh block in README.md, with the
// output shown under it.
type readmeExample struct {
	line    int
	command string
	output  []string
}

// readmeExamples reads the examples of README.md in order.
func readmeExamples(t *testing.T) []readmeExample {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		examples []readmeExample
		inSh     bool
		inBlock  bool // in a fenced block, of any language
		current  bool // the block's lines belong to the last example
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```"):
			inBlock = !inBlock
			inSh, current = inBlock && line == "```sh", false
		case inSh && strings.HasPrefix(line, "$ "):
			examples = append(examples, readmeExample{line: n, command: strings.TrimPrefix(line, "$ ")})
			current = true
		case inSh && current:
			// Output of the example above. A sh block that starts with no
			// "$ " line is a script to read, not an example.
			last := &examples[len(examples)-1]
			last.output = append(last.output, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return examples
}

// TestREADMEExamples starts the server on Corefile.example, as `make run`
// does but on free ports, and runs every example of the README in order:
// the commands must succeed and print what the README shows (in any order,
// since answers are shuffled).
func TestREADMEExamples(t *testing.T) {
	requireTool(t, "dig", "bind9-dnsutils")
	requireTool(t, "curl", "curl")
	example, err := os.ReadFile(filepath.Join("..", "Corefile.example"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := strings.NewReplacer(
		":1053", ":{{PORT}}",
		"127.0.0.1:8053", "{{API}}",
		"prometheus 127.0.0.1:9153", "prometheus 127.0.0.1:0",
	).Replace(string(example))
	s := startServer(t, tmpl)

	ports := strings.NewReplacer(
		"-p 1053", "-p "+strconv.Itoa(s.port),
		"http://127.0.0.1:8053", s.apiURL,
	)
	// The examples run from a directory laid out as the checkout after
	// `make build`, with the binaries in bin/.
	dir := t.TempDir()
	if err := os.Symlink(filepath.Dir(ctlBin), filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"PATH="+filepath.Dir(ctlBin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"SIGNPOST_SERVER="+s.apiURL,
	)
	examples := readmeExamples(t)
	if len(examples) < 10 {
		t.Fatalf("found %d examples in README.md; the parser or the README changed", len(examples))
	}
	for _, ex := range examples {
		ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
		cmd := exec.CommandContext(ctx, "sh", "-c", ports.Replace(ex.command))
		cmd.Dir = dir
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("README.md:%d: %s: %v\n%s", ex.line, ex.command, err, out)
		}
		if got, want := normalize(string(out)), normalize(strings.Join(ex.output, "\n")); !slices.Equal(got, want) {
			t.Errorf("README.md:%d: %s\ngot:\n%s\nwant:\n%s", ex.line, ex.command, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// normalize returns the non-empty lines of s with white space collapsed,
// sorted.
func normalize(s string) []string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines = append(lines, strings.Join(f, " "))
		}
	}
	slices.Sort(lines)
	return lines
}
