package healthcheck

import (
	"strings"
	"testing"
)

// TestObserve feeds results (P, W, C) and wants the transitions they cause
// ("-" for none), with rise 2 and fall 3.
func TestObserve(t *testing.T) {
	tests := []struct {
		name, results, want string
	}{
		{"unknown until rise", "PP", "-P"},
		{"unknown until fall", "CCC", "--C"},
		{"alternating never settles", "PCPCPC", "------"},
		{"a blip does not fail", "PP" + "CCP" + "CC", "-P" + "---" + "--"},
		{"fall after rise", "PP" + "CCC", "-P" + "--C"},
		{"rise after fall", "CCC" + "PCPP", "--C" + "---P"},
		{"warning from unknown rises", "WW", "-W"},
		{"warning is worse than passing", "PP" + "WWW", "-P" + "--W"},
		{"warning to critical falls", "WW" + "CCC", "-W" + "--C"},
		{"warning to passing rises", "WW" + "PP", "-W" + "-P"},
		{"mixed bad results fall to the last", "PP" + "WCW", "-P" + "--W"},
		{"mixed good results rise to the last", "CCC" + "WP", "--C" + "-P"},
		{"equal result breaks a streak", "PP" + "CCPCC" + "C", "-P" + "-----" + "C"},
	}
	status := map[byte]Status{'P': Passing, 'W': Warning, 'C': Critical}
	for _, tc := range tests {
		var h health
		var got strings.Builder
		for i := range len(tc.results) {
			to, changed := h.observe(status[tc.results[i]], 2, 3)
			if !changed {
				got.WriteByte('-')
				continue
			}
			got.WriteByte(strings.ToUpper(to.String())[0])
		}
		if got.String() != tc.want {
			t.Errorf("%s: %s gave %s, want %s", tc.name, tc.results, got.String(), tc.want)
		}
	}
}

func TestObserveRiseFallOne(t *testing.T) {
	var h health
	for i, r := range []Status{Critical, Passing, Passing, Warning, Critical} {
		to, changed := h.observe(r, 1, 1)
		want := i != 2 // every change of result is a transition, a repeat is not
		if changed != want || (changed && to != r) {
			t.Errorf("result %d (%v): got %v %v", i, r, to, changed)
		}
	}
}
