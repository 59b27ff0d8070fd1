package signpost

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/api"
)

// BenchmarkPropagation measures how long a registration takes to reach DNS:
// from the moment the HTTP PUT returns 200 until a query answers with the
// new instance. The registry publishes before the API answers, so the first
// query after the PUT must already see it; the figure is the cost of that
// one query (with the packed answer cache rebuilt for the new snapshot).
func BenchmarkPropagation(b *testing.B) {
	reg := benchRegistry(b, 3000)
	srv := httptest.NewServer(api.NewHandler(reg, api.Options{}))
	defer srv.Close()
	sp := &Signpost{Zones: []string{testZone}, reg: reg, upstream: upstream.New(), opts: options{ttl: 5, negativeTTL: 5}, cache: newAnswerCache(defaultCacheSize)}
	client := srv.Client()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("p%d", i)
		addr := fmt.Sprintf("10.200.%d.%d", i/250%250, i%250+1)
		body := fmt.Sprintf(`{"address":%q,"port":8080}`, addr)
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v1/services/prop/instances/"+id, strings.NewReader(body))
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("PUT: %s", resp.Status)
		}
		acked := time.Now()
		for tries := 0; ; tries++ {
			if tries == 1000 {
				b.Fatalf("%s not in DNS after 1000 queries", addr)
			}
			if answerHas(b, sp, addr) {
				break
			}
		}
		lat = append(lat, time.Since(acked))
		if err := reg.Deregister("prop", id); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

func answerHas(tb testing.TB, sp *Signpost, addr string) bool {
	r := new(dns.Msg).SetQuestion("prop.svc.internal.", dns.TypeA)
	m, _ := ask(tb, sp, r, false)
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok && a.A.String() == addr {
			return true
		}
	}
	return false
}
