package signpost

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/registry"
)

// TestFailoverAgrees walks a service through health states and checks that
// DNS answers, explain and the event log agree on whether it fails over,
// for its name and a tag name, with serve-warning on and off and
// min-healthy 0 (the default, 1), 1 and 2.
func TestFailoverAgrees(t *testing.T) {
	vip := netip.MustParseAddr("10.0.0.100")
	// The health of a, b (both tagged blue) and c (green) in each step.
	steps := [][3]registry.Health{
		{registry.Passing, registry.Passing, registry.Passing},
		{registry.Warning, registry.Passing, registry.Passing},
		{registry.Warning, registry.Critical, registry.Passing},
		{registry.Critical, registry.Critical, registry.Passing},
		{registry.Critical, registry.Critical, registry.Warning},
		{registry.Critical, registry.Critical, registry.Critical},
		{registry.Passing, registry.Warning, registry.Critical},
		{registry.Passing, registry.Passing, registry.Passing},
	}
	ids := [3]string{"a", "b", "c"}
	for _, serveWarning := range []bool{false, true} {
		for _, minHealthy := range []int{0, 1, 2} {
			t.Run(fmt.Sprintf("warning=%v/min=%d", serveWarning, minHealthy), func(t *testing.T) {
				reg := registry.New(registry.Config{ServeWarning: serveWarning})
				must(t, reg.ApplyStatic([]registry.StaticService{{
					Config: registry.ServiceConfig{Name: "svc", MinHealthy: minHealthy, Failover: registry.Failover{Addrs: []netip.Addr{vip}}},
					Instances: []registry.Instance{
						{ID: "a", Address: netip.MustParseAddr("10.0.5.1"), Port: 80, Weight: 1, Tags: []string{"blue"}},
						{ID: "b", Address: netip.MustParseAddr("10.0.5.2"), Port: 80, Weight: 1, Tags: []string{"blue"}},
						{ID: "c", Address: netip.MustParseAddr("10.0.5.3"), Port: 80, Weight: 1, Tags: []string{"green"}},
					},
				}}))
				sp := &Signpost{Zones: []string{testZone}, reg: reg, upstream: upstream.New(),
					opts: options{ttl: 5, negativeTTL: 7, serveWarning: serveWarning}, cache: newAnswerCache(defaultCacheSize)}
				x := testExplainer(sp, time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
				sawOn := false
				for i, step := range steps {
					for j, h := range step {
						must(t, reg.SetHealth("svc", ids[j], h))
					}
					svc := reg.Snapshot().Service("svc")
					for _, tag := range []string{"", "blue", "green"} {
						rule := svc.FailingOver(tag, serveWarning)
						sawOn = sawOn || rule
						name := serviceName("svc", tag, testZone)
						if got := answersVIP(t, sp, name, vip); got != rule {
							t.Errorf("step %d %s: DNS answers the failover %v, the rule says %v", i, name, got, rule)
						}
						if got := explainOf(t, x, "svc", tag).Failover.Active; got != rule {
							t.Errorf("step %d %s: explain says failover %v, the rule says %v", i, name, got, rule)
						}
						if tag != "" {
							continue // events are about the service's own name
						}
						if got := failoverByEvents(reg, "svc"); got != rule {
							t.Errorf("step %d %s: events say failover %v, the rule says %v", i, name, got, rule)
						}
					}
				}
				if !sawOn {
					t.Error("no step failed over: the walk tests nothing")
				}
			})
		}
	}
}

// answersVIP queries name for A records and reports whether the answer is
// the failover VIP.
func answersVIP(t *testing.T, sp *Signpost, name string, vip netip.Addr) bool {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := sp.ServeDNS(context.Background(), rec, m); err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	vipSeen := false
	for _, rr := range rec.Msg.Answer {
		a, ok := rr.(*dns.A)
		if !ok {
			continue
		}
		if ip, _ := netip.AddrFromSlice(a.A); ip.Unmap() == vip {
			vipSeen = true
		} else if vipSeen {
			t.Fatalf("query %s: the VIP and an instance in one answer: %v", name, rec.Msg.Answer)
		}
	}
	return vipSeen
}

// failoverByEvents is whether the event log's last failover event of
// service is failover-on.
func failoverByEvents(reg *registry.Registry, service string) bool {
	on := false
	for _, e := range reg.Events(0).Events {
		if e.Service != service {
			continue
		}
		switch e.Type {
		case registry.EventFailoverOn:
			on = true
		case registry.EventFailoverOff:
			on = false
		}
	}
	return on
}
