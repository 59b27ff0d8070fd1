package signpost

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/registry"
)

// The fast path (packed answers written as bytes) and the general path
// (records written through CoreDNS's writer) must give the same answer to
// every query: they share the engine that decides which records an answer
// may hold (pack) and the choice of the records of one reply (choose); this
// checks it on random registries and random queries.

// captureWriter keeps the reply, whether written as a message or as bytes.
type captureWriter struct {
	test.ResponseWriter
	wire []byte
}

func (w *captureWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	w.wire = b
	return err
}

func (w *captureWriter) Write(b []byte) (int, error) {
	w.wire = append([]byte(nil), b...)
	return len(b), nil
}

// diffWorld is a random registry served by both paths.
type diffWorld struct {
	fast, general *Signpost
	services      []string
	tags          []string
	addrs         []netip.Addr
}

var diffTags = []string{"blue", "green", "canary", "v2"}

// newDiffWorld builds a random registry from rng: up to 4 services and 300
// instances drawn from small address pools so that instances share
// addresses, IPv4 and IPv6, random health, tags, weights and ports, VIP
// failover (with or without a port) and min-healthy, and random answer
// options.
func newDiffWorld(t testing.TB, rng *rand.Rand) *diffWorld {
	w := &diffWorld{tags: diffTags}
	for i := range 12 {
		w.addrs = append(w.addrs, netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}))
		w.addrs = append(w.addrs, netip.MustParseAddr(fmt.Sprintf("2001:db8::%x", i+1)))
	}
	reg := registry.New(registry.Config{})
	var static []registry.StaticService
	nsvc := 1 + rng.IntN(4)
	total := rng.IntN(301)
	for s := range nsvc {
		name := fmt.Sprintf("svc%d", s)
		w.services = append(w.services, name)
		cfg := registry.ServiceConfig{Name: name, MinHealthy: rng.IntN(4)}
		if rng.IntN(3) == 0 {
			cfg.Failover.Addrs = []netip.Addr{w.addrs[rng.IntN(len(w.addrs))], w.addrs[rng.IntN(len(w.addrs))]}
			if cfg.Failover.Addrs[0] == cfg.Failover.Addrs[1] {
				cfg.Failover.Addrs = cfg.Failover.Addrs[:1]
			}
			if rng.IntN(2) == 0 {
				cfg.Failover.Port = uint16(1 + rng.IntN(65535))
			}
		}
		ss := registry.StaticService{Config: cfg}
		for i := range total / nsvc {
			in := registry.Instance{
				ID: fmt.Sprintf("i%d", i), Address: w.addrs[rng.IntN(len(w.addrs))],
				Port: uint16(1 + rng.IntN(4)), Weight: uint16(rng.IntN(3)),
			}
			for _, tag := range diffTags {
				if rng.IntN(3) == 0 {
					in.Tags = append(in.Tags, tag)
				}
			}
			ss.Instances = append(ss.Instances, in)
		}
		static = append(static, ss)
	}
	if err := reg.ApplyStatic(static); err != nil {
		t.Fatal(err)
	}
	for _, ss := range static {
		for _, in := range ss.Instances {
			if h := registry.Health(rng.IntN(3)); h != registry.Passing {
				if err := reg.SetHealth(ss.Config.Name, in.ID, h); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	opts := options{ttl: 5, negativeTTL: 7, serveWarning: rng.IntN(2) == 0, consul: &consulNames{domain: "consul.", dc: "dc1"}}
	if rng.IntN(2) == 0 {
		opts.maxAnswers = 1 + rng.IntN(5)
	}
	zones := []string{testZone, "consul."}
	w.fast = &Signpost{Zones: zones, reg: reg, upstream: upstream.New(), opts: opts, cache: newAnswerCache(100)}
	w.general = &Signpost{Zones: zones, reg: reg, upstream: upstream.New(), opts: opts}
	return w
}

// query returns a random query: every name form, Signpost's and Consul's,
// in random case, random types, with or without EDNS0 and its size and DO
// bit, over UDP or TCP.
func (w *diffWorld) query(rng *rand.Rand) (*dns.Msg, bool) {
	svc := w.services[rng.IntN(len(w.services))]
	tag := w.tags[rng.IntN(len(w.tags))]
	a := w.addrs[rng.IntN(len(w.addrs))]
	zone, names := testZone, []string{
		svc, tag + "." + svc, "_" + svc + "._tcp", "_" + svc + "._udp", "_" + svc + "._" + tag,
		addrToLabel(a) + ".addr", "addr", "_" + svc, "_tcp", "_" + tag, "nope", "", "x.y." + svc,
	}
	if rng.IntN(3) == 0 {
		zone, names = "consul.", []string{
			svc + ".service", svc + ".service.dc1", tag + "." + svc + ".service", tag + "." + svc + ".service.dc1",
			"_" + svc + "._tcp.service", "_" + svc + "._tcp.service.dc1", "_" + svc + "._tcp", "_" + svc + "._udp.dc1",
			"_" + svc + "._" + tag + ".service", "_" + svc + "._" + tag + ".service.dc1",
			consulAddrLabel(a) + ".addr.dc1", consulAddrLabel(a) + ".addr", "addr.dc1", "service", "dc1", "_tcp.service", "",
			svc + ".service.dc2", svc + ".node", svc, "nope.service",
		}
	}
	name := names[rng.IntN(len(names))]
	if name != "" {
		name += "."
	}
	name = randomCase(rng, name+zone)
	qtypes := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeANY, dns.TypeTXT, dns.TypeSOA}
	m := new(dns.Msg).SetQuestion(name, qtypes[rng.IntN(len(qtypes))])
	m.RecursionDesired = rng.IntN(2) == 0
	if rng.IntN(2) == 0 {
		m.SetEdns0(uint16(512+rng.IntN(3585)), rng.IntN(2) == 0)
	}
	return m, rng.IntN(4) == 0
}

func randomCase(rng *rand.Rand, s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' && rng.IntN(2) == 0 {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// serve runs q through sp as CoreDNS's server does, behind its ScrubWriter,
// with answers shuffled by a source seeded with seed.
func serve(t testing.TB, sp *Signpost, q *dns.Msg, tcp bool, seed uint64) *dns.Msg {
	t.Helper()
	sp.rand = rand.New(rand.NewPCG(seed, seed))
	cw := &captureWriter{ResponseWriter: test.ResponseWriter{TCP: tcp}}
	if _, err := sp.ServeDNS(context.Background(), request.NewScrubWriter(q, cw), q); err != nil {
		t.Fatalf("%s: %v", q.Question[0].String(), err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(cw.wire); err != nil {
		t.Fatalf("%s: reply does not parse: %v", q.Question[0].String(), err)
	}
	return m
}

// section renders records as sorted strings, to compare as sets.
func section(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.String()
	}
	slices.Sort(out)
	return out
}

// compareReplies fails t when two replies to q differ in anything a
// client can see, order within a section aside.
func compareReplies(t testing.TB, q *dns.Msg, tcp bool, fast, general *dns.Msg) {
	t.Helper()
	where := fmt.Sprintf("%s (tcp %v, edns %v)", q.Question[0].String(), tcp, q.IsEdns0() != nil)
	if fast.Rcode != general.Rcode || fast.Truncated != general.Truncated || fast.Authoritative != general.Authoritative ||
		fast.RecursionDesired != general.RecursionDesired || fast.Id != general.Id {
		t.Fatalf("%s: header: fast %s, general %s", where, fast.MsgHdr.String(), general.MsgHdr.String())
	}
	if !slices.Equal(section(fast.Answer), section(general.Answer)) {
		t.Fatalf("%s: answer:\nfast    %s\ngeneral %s", where, strings.Join(section(fast.Answer), " | "), strings.Join(section(general.Answer), " | "))
	}
	if !slices.Equal(section(fast.Ns), section(general.Ns)) {
		t.Fatalf("%s: authority: fast %v, general %v", where, section(fast.Ns), section(general.Ns))
	}
	if !slices.Equal(section(fast.Extra), section(general.Extra)) {
		t.Fatalf("%s: additional:\nfast    %s\ngeneral %s", where, strings.Join(section(fast.Extra), " | "), strings.Join(section(general.Extra), " | "))
	}
}

// checkWorld builds the world of seed and compares both paths on n queries.
func checkWorld(t testing.TB, seed uint64, n int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	w := newDiffWorld(t, rng)
	for range n {
		q, tcp := w.query(rng)
		shuffleSeed := rng.Uint64()
		compareReplies(t, q, tcp, serve(t, w.fast, q, tcp, shuffleSeed), serve(t, w.general, q, tcp, shuffleSeed))
	}
}

func TestFastAndGeneralPathsAgree(t *testing.T) {
	for seed := range uint64(200) {
		checkWorld(t, seed, 100)
	}
}

// The case that once differed: max-answers 2 and two instances on one
// address. Both paths answer with two distinct records.
func TestMaxAnswersCountsRecords(t *testing.T) {
	reg := registry.New(registry.Config{})
	a := netip.MustParseAddr("10.0.0.1")
	must(t, reg.ApplyStatic([]registry.StaticService{{
		Config: registry.ServiceConfig{Name: "web"},
		Instances: []registry.Instance{
			{ID: "w1", Address: a, Port: 80, Weight: 1},
			{ID: "w2", Address: a, Port: 81, Weight: 1},
			{ID: "w3", Address: netip.MustParseAddr("10.0.0.2"), Port: 80, Weight: 1},
		},
	}}))
	opts := options{ttl: 5, negativeTTL: 5, maxAnswers: 2}
	for name, sp := range map[string]*Signpost{
		"fast":    {Zones: []string{testZone}, reg: reg, opts: opts, cache: newAnswerCache(10)},
		"general": {Zones: []string{testZone}, reg: reg, opts: opts},
	} {
		for i := range 300 {
			q := new(dns.Msg).SetQuestion("web."+testZone, dns.TypeA)
			if got := len(serve(t, sp, q, false, uint64(i)).Answer); got != 2 {
				t.Fatalf("%s path, query %d: %d records, want 2", name, i, got)
			}
		}
	}
}
