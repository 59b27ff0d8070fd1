package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// renewJSON is the answer of PUT /v1/heartbeats, as a client reads it.
type renewJSON struct {
	Renewed int       `json:"renewed"`
	Unknown []refJSON `json:"unknown"`
	NoLease []refJSON `json:"no_lease"`
}

type refJSON struct {
	Service string `json:"service"`
	ID      string `json:"id"`
}

func TestHeartbeats(t *testing.T) {
	f := newFixture(t, Options{Token: "t"})
	f.register("web", "w1", web1)
	f.register("web", "w2", web1)
	f.register("api", "a1", `{"address":"10.0.0.6","port":80,"ttl":"30s"}`)
	f.register("db", "d1", `{"address":"10.0.0.7","port":5432}`)
	auth := []string{"Authorization", "Bearer t"}

	f.clock.Add(10 * time.Second)
	body := `[{"service":"web","id":"w1"}, {"service":"web","id":"w2"},
		{"service":"api","id":"a1"}, {"service":"db","id":"d1"}, {"service":"web","id":"gone"}]`
	rec := f.do("PUT", "/v1/heartbeats", body, auth...)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got renewJSON
	decode(t, rec, &got)
	want := renewJSON{Renewed: 3, Unknown: []refJSON{{"web", "gone"}}, NoLease: []refJSON{{"db", "d1"}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("answer %+v, want %+v", got, want)
	}
	// Each lease now runs from the batch.
	for _, k := range [][2]string{{"web", "w1"}, {"web", "w2"}} {
		_, deadline, _ := f.reg.Lease(k[0], k[1])
		if want := f.clock.Now().Add(15 * time.Second); !deadline.Equal(want) {
			t.Errorf("%s/%s deadline %v, want %v", k[0], k[1], deadline, want)
		}
	}

	// All renewed: empty lists, not null.
	rec = f.do("PUT", "/v1/heartbeats", `[{"service":"web","id":"w1"}]`, auth...)
	if s := rec.Body.String(); s != `{"renewed":1,"unknown":[],"no_lease":[]}`+"\n" {
		t.Errorf("answer %s", s)
	}
	// An empty batch renews nothing.
	rec = f.do("PUT", "/v1/heartbeats", ` [ ] `, auth...)
	if s := rec.Body.String(); rec.Code != http.StatusOK || s != `{"renewed":0,"unknown":[],"no_lease":[]}`+"\n" {
		t.Errorf("empty batch: %d %s", rec.Code, s)
	}
}

// TestHeartbeatsRevives checks that a batch brings back an instance whose
// lease ran out, as a single heartbeat does.
func TestHeartbeatsRevives(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	f.clock.Add(16 * time.Second)
	f.reg.Sweep()
	if in, _ := f.reg.Snapshot().Service("web").Instance("w1"); in.Health != registry.Critical {
		t.Fatalf("w1 %s after its lease ran out", in.Health)
	}
	rec := f.do("PUT", "/v1/heartbeats", `[{"service":"web","id":"w1"}]`)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if in, _ := f.reg.Snapshot().Service("web").Instance("w1"); in.Health != registry.Passing {
		t.Errorf("w1 %s after a batch heartbeat, want passing", in.Health)
	}
}

func TestHeartbeatsNeedsToken(t *testing.T) {
	f := newFixture(t, Options{Token: "t"})
	f.register("web", "w1", web1)
	rec := f.do("PUT", "/v1/heartbeats", `[{"service":"web","id":"w1"}]`)
	wantError(t, rec, http.StatusUnauthorized, `missing or invalid token: send "Authorization: Bearer <token>"`)
	rec = f.do("PUT", "/v1/heartbeats", `[{"service":"web","id":"w1"}]`, "Authorization", "Bearer wrong")
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", rec.Code)
	}
	// Reads of a server with TokenRead unset still need no token, but the
	// batch is a write.
	if rec := f.do("GET", "/v1/heartbeats", ""); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", rec.Code)
	}
}

func TestHeartbeatsBadInput(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	f.clock.Add(10 * time.Second)
	_, deadline, _ := f.reg.Lease("web", "w1")

	tests := []struct{ body, msg string }{
		{``, `body: is empty, must be a JSON list of {"service", "id"} objects`},
		{`{"service":"web","id":"w1"}`, `body: must be a JSON list of {"service", "id"} objects`},
		{`[{"service":"web","id":"w1"},`, `body: ends in the middle of the JSON list`},
		{`[{"service":"web","id":"w1"}`, `body: ends in the middle of the JSON list`},
		{`[{"service":"web","id":"w1"}] []`, `body: must hold one JSON list and nothing after it`},
		{`[{"service":"web","id":"w1"} {"service":"web","id":"w1"}]`, `body: invalid JSON at byte 29: want ',' or ']' after an element`},
		{`[{"service":"web","id":"w1"},"web"]`, `[1]: must be an object {"service": ..., "id": ...}`},
		{`[{"service":"web"}]`, `[0].id: is required`},
		{`[{"id":"w1"}]`, `[0].service: is required`},
		{`[{"service":"web","id":"w1","ttl":"5s"}]`, `[0].ttl: is not a known field`},
		{`[{"service":"web","id":"w1","ID":"w2"}]`, `[0].id: is given more than once`},
		{`[{"service":"web","id":7}]`, `[0].id: must be a string`},
		{`[{"service":"web","id":null}]`, `[0].id: must be a string`},
		{`[{"service":"Web","id":"w1"}]`, `[0].service: "Web" may hold only lowercase a-z, 0-9 and '-'`},
		{`[{"service":"web","id":"w1"},{"service":"web","id":""}]`, `[1].id: must be 1 to 63 characters`},
		{`[{"service":"web","id":"w` + "\x01" + `"}]`, `body: invalid JSON at byte 25: control character in a string`},
		{`[{"service":"web","id":"w\q"}]`, `body: invalid JSON string at byte 23`},
		{`[{"service":"web" "id":"w1"}]`, `body: invalid JSON at byte 18: want ',' or '}' after a member`},
		{`[{"service" "web"}]`, `body: invalid JSON at byte 12: want ':' after a key`},
		{`[{service:"web"}]`, `body: invalid JSON at byte 2: want a string`},
	}
	for _, tt := range tests {
		rec := f.do("PUT", "/v1/heartbeats", tt.body)
		wantError(t, rec, http.StatusBadRequest, tt.msg)
	}
	// Nothing of a refused batch was renewed, even its valid entries.
	if _, d, _ := f.reg.Lease("web", "w1"); !d.Equal(deadline) {
		t.Errorf("a refused batch moved the deadline from %v to %v", deadline, d)
	}
}

func TestHeartbeatsDecodesLikeJSON(t *testing.T) {
	// Escapes, case-insensitive keys and any white space, as encoding/json
	// reads them.
	refs, err := parseHeartbeats([]byte("\n[ {\"Service\" : \"w\\u0065b\",\t\"iD\":\"w1\" } ,{\"id\":\"w2\",\"service\":\"web\"}]\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []registry.Ref{{Service: "web", ID: "w1"}, {Service: "web", ID: "w2"}}; !reflect.DeepEqual(refs, want) {
		t.Errorf("refs %v, want %v", refs, want)
	}
}

func TestHeartbeatsBounds(t *testing.T) {
	f := newFixture(t, Options{})
	batch := func(n int) string {
		var b strings.Builder
		b.WriteByte('[')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"service":"web","id":"i%d"}`, i)
		}
		b.WriteByte(']')
		return b.String()
	}
	rec := f.do("PUT", "/v1/heartbeats", batch(MaxHeartbeats))
	var got renewJSON
	decode(t, rec, &got)
	if rec.Code != http.StatusOK || len(got.Unknown) != MaxHeartbeats {
		t.Errorf("%d instances: status %d, %d unknown", MaxHeartbeats, rec.Code, len(got.Unknown))
	}
	rec = f.do("PUT", "/v1/heartbeats", batch(MaxHeartbeats+1))
	wantError(t, rec, http.StatusBadRequest, fmt.Sprintf("body: names more than %d instances; send them in several calls", MaxHeartbeats))

	// The longest names fit the body bound.
	long := func(c string) string { return strings.Repeat(c, 63) }
	var b strings.Builder
	b.WriteByte('[')
	for i := range MaxHeartbeats {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `{"service": %q, "id": %q}`, long("s"), long("i"))
	}
	b.WriteByte(']')
	if rec := f.do("PUT", "/v1/heartbeats", b.String()); rec.Code != http.StatusOK {
		t.Errorf("%d of the longest names (%d bytes): %d %s", MaxHeartbeats, b.Len(), rec.Code, rec.Body)
	}
	rec = f.do("PUT", "/v1/heartbeats", "["+strings.Repeat(" ", MaxHeartbeatsBodyBytes)+"]")
	wantError(t, rec, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than %d bytes", MaxHeartbeatsBodyBytes))
}

// FuzzHeartbeats checks the parser against encoding/json: whatever it
// takes, encoding/json reads the same way.
func FuzzHeartbeats(f *testing.F) {
	for _, s := range []string{
		`[{"service":"web","id":"w1"}]`, `[]`, `[{"SERVICE":"a","Id":"b"},{"id":"c","service":"d"}]`,
		`[{"service":"w\u0065b","id":"w1"}]`, `[{"service":"web","id":"w1"}] x`, `[{"service":"web"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		refs, err := parseHeartbeats(data)
		if err != nil {
			return
		}
		var std []refJSON
		if err := json.Unmarshal(data, &std); err != nil {
			t.Fatalf("parsed %q, which encoding/json refuses: %v", data, err)
		}
		if len(std) != len(refs) {
			t.Fatalf("%q: %d refs, encoding/json %d", data, len(refs), len(std))
		}
		for i := range refs {
			if refs[i].Service != std[i].Service || refs[i].ID != std[i].ID {
				t.Fatalf("%q: ref %d %v, encoding/json %v", data, i, refs[i], std[i])
			}
		}
	})
}
