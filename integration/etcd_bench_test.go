package integration

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/internal/etcdtest"
)

// benchPropagationWait bounds the wait for one registration to show in an
// answer; nothing on loopback comes near it.
const benchPropagationWait = 10 * time.Second

// benchEtcdCorefile is a server of the registry shared through etcd at
// endpoints under prefix.
func benchEtcdCorefile(endpoints []string, prefix string) string {
	return fmt.Sprintf(`svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        api {{API}}
        etcd {
            endpoint %s
            path %s
        }
    }
}
`, strings.Join(endpoints, " "), prefix)
}

// BenchmarkEtcdPropagation measures, against the built binaries, the time
// from the 200 of a registration on server A's API to the first answer of
// server B that holds the instance, with A and B sharing a registry on a
// three-member etcd cluster; B is asked over UDP, back to back. "a-to-a"
// asks A itself, and "memory" is the same on one server without etcd, the
// baselines of the same run. Each registration is a new instance; it is
// deregistered (outside the measured time) before the next.
//
//	go test -run '^$' -bench EtcdPropagation -benchtime 2000x ./integration/
func BenchmarkEtcdPropagation(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		s := startServer(b, "svc.internal:{{PORT}} {\n    bind 127.0.0.1\n    signpost {\n        api {{API}}\n    }\n}\n")
		benchPropagation(b, s, s)
	})
	for _, bin := range etcdtest.Binaries(b) {
		c := etcdtest.Start(b, etcdtest.Options{Members: 3, Binary: bin})
		a := startServer(b, benchEtcdCorefile(c.Endpoints(), "/signpost-bench"))
		other := startServer(b, benchEtcdCorefile(c.Endpoints(), "/signpost-bench"))
		b.Run(bin.String()+"/a-to-b", func(b *testing.B) { benchPropagation(b, a, other) })
		b.Run(bin.String()+"/a-to-a", func(b *testing.B) { benchPropagation(b, a, a) })
	}
}

func benchPropagation(b *testing.B, writer, reader *server) {
	client := &http.Client{Timeout: benchPropagationWait}
	dc := &dns.Client{Net: "udp", Timeout: time.Second}
	conn, err := dc.Dial(reader.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	lat := make([]time.Duration, 0, b.N)
	q := newQuery("prop.svc.internal.", dns.TypeA)
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprintf("p%d", i)
		addr := fmt.Sprintf("10.%d.%d.%d", 100+i/62500%100, i/250%250, i%250+1)
		url := writer.apiURL + "/v1/services/prop/instances/" + id
		benchHTTP(b, client, http.MethodPut, url, fmt.Sprintf(`{"address":%q,"port":8080}`, addr), http.StatusOK)
		acked := time.Now()
		for !benchAnswerHas(b, dc, conn, q, addr) {
			if time.Since(acked) > benchPropagationWait {
				b.Fatalf("%s not answered by %s within %v of the 200", addr, reader.addr, benchPropagationWait)
			}
		}
		lat = append(lat, time.Since(acked))
		b.StopTimer()
		benchHTTP(b, client, http.MethodDelete, url, "", http.StatusNoContent)
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}

func benchHTTP(b *testing.B, client *http.Client, method, url, body string, want int) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("%s %s: %s %s", method, url, resp.Status, msg)
	}
}

func benchAnswerHas(b *testing.B, dc *dns.Client, conn *dns.Conn, q *dns.Msg, addr string) bool {
	q.Id = dns.Id()
	r, _, err := dc.ExchangeWithConn(q, conn)
	if err != nil {
		b.Fatalf("asking for %s: %v", q.Question[0].Name, err)
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok && a.A.String() == addr {
			return true
		}
	}
	return false
}
