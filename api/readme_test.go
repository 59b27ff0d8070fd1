package api

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/healthcheck"
)

// The answers documented in README.md ("Answers") are the ones the API
// writes: every JSON field of an instance, a service and a service summary
// is named there, and none that is not.
func TestREADMEDocumentsAnswers(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "#### Answers\n")
	if !ok {
		t.Fatal(`README.md has no "#### Answers" section`)
	}
	section, _, _ = strings.Cut(section, "\n#")
	tableFields := func(header string) []string {
		_, rest, ok := strings.Cut(section, "| "+header+" | meaning |")
		if !ok {
			t.Fatalf("README.md: no table %q", header)
		}
		var names []string
		for _, line := range strings.Split(rest, "\n")[2:] {
			if !strings.HasPrefix(line, "| ") {
				break
			}
			cell, _, _ := strings.Cut(strings.TrimPrefix(line, "| "), " |")
			for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(cell, -1) {
				names = append(names, m[1])
			}
		}
		return names
	}
	check := func(what string, documented []string, v any) {
		t.Helper()
		want := jsonNames(reflect.TypeOf(v))
		slices.Sort(documented)
		if !slices.Equal(documented, want) {
			t.Errorf("README.md documents the %s fields %v; the API writes %v", what, documented, want)
		}
	}
	check("instance", tableFields("instance field"), instanceJSON{})
	check("service", tableFields("service field"), serviceJSON{})

	// The summary and the lease are listed in prose: {"service", ...}.
	list := func(after string) []string {
		_, rest, ok := strings.Cut(section, after)
		if !ok {
			t.Fatalf("README.md: no %q", after)
		}
		obj, _, _ := strings.Cut(rest, "}")
		var names []string
		for _, m := range regexp.MustCompile(`"([a-z_]+)"`).FindAllStringSubmatch(obj, -1) {
			names = append(names, m[1])
		}
		return names
	}
	check("service list", list("`GET /v1/services` answers a list of `{"), summaryJSON{})
	lease := list("answer the lease alone: `{")
	slices.Sort(lease)
	if want := []string{"health", "id", "lease_expires", "service", "ttl"}; !slices.Equal(lease, want) {
		t.Errorf("README.md documents the lease as %v, want %v", lease, want)
	}

	// The check's fields, in prose too.
	_, rest, _ := strings.Cut(section, "The `check` object takes and shows ")
	sentence, _, _ := strings.Cut(rest, "(")
	var checkFields []string
	for _, m := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(sentence, -1) {
		checkFields = append(checkFields, m[1])
	}
	slices.Sort(checkFields)
	if want := jsonNames(reflect.TypeOf(healthcheck.Spec{})); !slices.Equal(checkFields, want) {
		t.Errorf("README.md documents the check fields %v; the API takes %v", checkFields, want)
	}
}

// jsonNames returns the sorted JSON names of the fields of struct type t.
func jsonNames(t reflect.Type) []string {
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
