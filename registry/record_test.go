package registry

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzRecordLikeJSON checks that the store's decoder reads every record as
// json.Unmarshal does.
func FuzzRecordLikeJSON(f *testing.F) {
	in := Instance{Service: "web", ID: "w1", Address: addrOf("10.0.0.1"), Port: 80, Weight: 1, Tags: []string{"a", "b"},
		TTL: 15 * time.Second, Check: `{"http":"http://10.0.0.1/h?a=<b>&c"}`, CreateIndex: 3, ModifyIndex: 9, Meta: map[string]string{"k": "v"}}
	f.Add(putOp(&in).value)
	in.Meta, in.Check = nil, ""
	f.Add(putOp(&in).value)
	f.Add(putExpiredOp(&in, time.Unix(1_900_000_000, 5)).value)
	in.Health = Critical
	f.Add(putReportOp(&in, "disk full").value)
	in.Health = Warning
	f.Add(putReportOp(&in, "slow: <é>").value)
	for _, s := range []string{
		`{}`, `{"v":1,"port":70000}`, `{"v":1,"tags":[]}`, `{"v":1,"tags":null}`, `{"V":1}`, `{"v":1,"v":2}`,
		`{"v":01}`, `{"v":1.0}`, `{"v":-1}`, `{"id":"\u0077"}`, ` {"v":1}`, `{"v":1}x`, `{"port":8080,"weight":65535,"create_index":18446744073709551615}`,
		`{"health":"critical"}`, `{"health":"passing","output":""}`, `{"health":"Critical"}`, `{"health":""}`, `{"health":2}`,
		`{"health":null}`, `{"health":"warning","health":"passing"}`, `{"output":"a\nb"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var got, want record
		gotErr := decodeRecord(data, &got)
		wantErr := json.Unmarshal(data, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: error %v, json.Unmarshal %v", data, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decoded %+v, json.Unmarshal %+v", data, got, want)
		}
	})
}

func addrOf(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestCompareRecordKeys(t *testing.T) {
	names := []string{"a", "a-b", "ab", "a0", "b", "web", "web-api", "web1", "w"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		as, bs := names[rng.IntN(len(names))], names[rng.IntN(len(names))]
		aid, bid := names[rng.IntN(len(names))], names[rng.IntN(len(names))]
		want := strings.Compare(recordKey(as, aid), recordKey(bs, bid))
		if got := compareRecordKeys(as, aid, bs, bid); got != want {
			t.Fatalf("compare(%s/%s, %s/%s) = %d, want %d", as, aid, bs, bid, got, want)
		}
	}
}
