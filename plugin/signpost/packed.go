package signpost

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"

	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/request"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/registry"
)

// Positive answers are kept packed: on this stack packing a reply costs more
// than finding it. An entry holds the wire form of each record on its own,
// with names compressed against the question only, so that a query shuffles
// and truncates records by copying bytes, and patches in its own message ID
// and the question exactly as it was asked. Entries belong to one registry
// snapshot and are rebuilt when it changes.

// defaultCacheSize is the number of packed answers kept per plugin.
const defaultCacheSize = 10_000

type packedKey struct {
	name  string // lowercased
	qtype uint16
}

// packedAnswer is a positive answer in wire form, for one snapshot.
type packedAnswer struct {
	index   uint64   // the snapshot it was built from
	result  string   // for metrics: resultSuccess or resultFailover
	answers [][]byte // one record each; owner is a pointer to the question
	glue    []int    // per answer, its record in extra, or -1
	extra   [][]byte
}

type answerCache struct {
	lru *lru.Cache[packedKey, *packedAnswer]
}

func newAnswerCache(size int) *answerCache {
	c, err := lru.New[packedKey, *packedAnswer](size)
	if err != nil {
		panic(err) // only for a size below one
	}
	return &answerCache{lru: c}
}

// rawWriter reports whether replies may be written as bytes: only when no
// plugin before this one wraps the writer to see the reply as a message
// (cache, rewrite, loadbalance do; the metrics and log recorders only count
// bytes and take NOERROR as the default, which a positive answer is).
func rawWriter(w dns.ResponseWriter) bool {
	for range 8 {
		switch x := w.(type) {
		case *request.ScrubWriter:
			return true
		case *metrics.Recorder:
			w = x.Recorder.ResponseWriter
		case *dnstest.Recorder:
			w = x.ResponseWriter
		default:
			return false
		}
	}
	return false
}

// simpleQuery reports whether r is a plain query the fast path answers
// exactly as the general one would: one question, opcode QUERY, no EDNS0
// options beyond the buffer size and DO bit, a name without escapes.
func simpleQuery(r *dns.Msg) bool {
	if len(r.Question) != 1 || r.Opcode != dns.OpcodeQuery || r.Question[0].Qclass != dns.ClassINET {
		return false
	}
	if o := r.IsEdns0(); o != nil && (len(o.Option) > 0 || o.Version() != 0) {
		return false
	}
	return !strings.Contains(r.Question[0].Name, `\`)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// serveCached answers from the packed cache and returns the metrics result,
// or "" when the query needs the general path.
func (sp *Signpost) serveCached(w dns.ResponseWriter, r *dns.Msg, state *request.Request, zone string, snap *registry.Snapshot) string {
	key := packedKey{name: state.Name(), qtype: state.QType()}
	pa, ok := sp.cache.lru.Get(key)
	if !ok || pa.index != snap.Index() {
		var keep bool
		if pa, keep = sp.pack(key, zone, snap); keep {
			sp.cache.lru.Add(key, pa)
		}
	}
	if pa.answers == nil {
		return ""
	}
	bp := bufPool.Get().(*[]byte)
	buf := sp.writePacked((*bp)[:0], r, state, pa)
	w.Write(buf)
	*bp = buf
	bufPool.Put(bp)
	return pa.result
}

// pack builds the packed answer for key. An answer without records means
// the query takes the general path (negative answers, ANY, CNAME failover);
// keep says whether to cache it: not for names that do not exist, so that
// queries for random names cannot push real answers out of the cache.
func (sp *Signpost) pack(key packedKey, zone string, snap *registry.Snapshot) (pa *packedAnswer, keep bool) {
	pa = &packedAnswer{index: snap.Index(), result: resultSuccess}
	q, err := parseName(key.name, zone)
	if err != nil || q.kind != kindService {
		return pa, false
	}
	svc := snap.Service(q.service)
	if svc == nil || (q.tag != "" && !svc.HasTag(q.tag)) {
		return pa, false
	}
	if key.qtype != dns.TypeA && key.qtype != dns.TypeAAAA && key.qtype != dns.TypeSRV {
		return pa, true
	}
	// The zone's offset in the question: 12 bytes of header, then the
	// labels before the zone, each a length byte and its characters.
	zoneOff := 12 + len(key.name) - len(zone)
	healthy := svc.Select(nil, q.tag, sp.opts.serveWarning)
	if fo, min := svc.Failover(); fo.IsSet() && len(healthy) < min {
		if fo.Name != "" {
			return pa, true
		}
		pa.result = resultFailover
		sp.packFailover(pa, key.qtype, zoneOff, svc, fo)
	} else {
		for _, in := range healthy {
			sp.packInstance(pa, key.qtype, zoneOff, in.Address, in.Port, in.Weight)
		}
	}
	return pa, true
}

func (sp *Signpost) packFailover(pa *packedAnswer, qtype uint16, zoneOff int, svc *registry.Service, fo registry.Failover) {
	port := fo.Port
	if port == 0 {
		port = svc.CommonPort()
	}
	if qtype == dns.TypeSRV && port == 0 {
		return
	}
	for _, a := range fo.Addrs {
		sp.packInstance(pa, qtype, zoneOff, a, port, 1)
	}
}

// packInstance adds the record of one address to pa: its A or AAAA record,
// or its SRV record with the address as glue. Addresses seen before add no
// second A record and no second glue.
func (sp *Signpost) packInstance(pa *packedAnswer, qtype uint16, zoneOff int, a netip.Addr, port, weight uint16) {
	if qtype != dns.TypeSRV {
		if (qtype == dns.TypeA) != a.Is4() || pa.hasAddr(a) {
			return
		}
		pa.answers = append(pa.answers, sp.packAddr(nil, a))
		pa.glue = append(pa.glue, -1)
		return
	}
	target := packTarget(nil, a, zoneOff)
	rr := binary.BigEndian.AppendUint16(nil, 0xC00C) // owner: the question
	rr = sp.appendHeader(rr, dns.TypeSRV, 6+len(target))
	rr = binary.BigEndian.AppendUint16(rr, 0) // priority
	rr = binary.BigEndian.AppendUint16(rr, weight)
	rr = binary.BigEndian.AppendUint16(rr, port)
	rr = append(rr, target...)
	glue := -1
	for i, e := range pa.extra {
		if strings.HasPrefix(string(e), string(target)) {
			glue = i
		}
	}
	if glue < 0 {
		glue = len(pa.extra)
		pa.extra = append(pa.extra, sp.packAddr(target, a))
	}
	pa.answers = append(pa.answers, rr)
	pa.glue = append(pa.glue, glue)
}

// hasAddr reports whether an A or AAAA record for a is in pa.answers.
func (pa *packedAnswer) hasAddr(a netip.Addr) bool {
	b := a.AsSlice()
	for _, rr := range pa.answers {
		if string(rr[len(rr)-len(b):]) == string(b) && len(rr) == 12+len(b) {
			return true
		}
	}
	return false
}

// packAddr returns the A or AAAA record of a with the given owner, or with
// the question as owner when owner is nil.
func (sp *Signpost) packAddr(owner []byte, a netip.Addr) []byte {
	rr := append([]byte(nil), owner...)
	if owner == nil {
		rr = binary.BigEndian.AppendUint16(rr, 0xC00C)
	}
	if a.Is4() {
		rr = sp.appendHeader(rr, dns.TypeA, 4)
	} else {
		rr = sp.appendHeader(rr, dns.TypeAAAA, 16)
	}
	return append(rr, a.AsSlice()...)
}

func (sp *Signpost) appendHeader(b []byte, rrtype uint16, rdlen int) []byte {
	b = binary.BigEndian.AppendUint16(b, rrtype)
	b = binary.BigEndian.AppendUint16(b, dns.ClassINET)
	b = binary.BigEndian.AppendUint32(b, sp.opts.ttl)
	return binary.BigEndian.AppendUint16(b, uint16(rdlen))
}

// packTarget returns the SRV target of a, <addr-label>.addr.<zone>, with the
// zone as a pointer into the question.
func packTarget(b []byte, a netip.Addr, zoneOff int) []byte {
	l := addrToLabel(a)
	b = append(b, byte(len(l)))
	b = append(b, l...)
	b = append(b, byte(len(addrLabel)))
	b = append(b, addrLabel...)
	return binary.BigEndian.AppendUint16(b, 0xC000|uint16(zoneOff))
}

// writePacked appends to buf the reply to r from pa: records shuffled, at
// most max-answers of them, cut to the client's buffer size with TC set when
// answers had to go, glue for the answers that made it while it fits.
func (sp *Signpost) writePacked(buf []byte, r *dns.Msg, state *request.Request, pa *packedAnswer) []byte {
	size := state.Size()
	opt := r.IsEdns0()
	if opt != nil {
		size -= 11 // the OPT record of the reply
	}
	n := len(pa.answers)
	var order [64]int
	perm := order[:0]
	for i := range n {
		perm = append(perm, i)
	}
	rand.Shuffle(n, func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
	if m := sp.opts.maxAnswers; m > 0 && n > m {
		perm = perm[:m]
	}

	buf = append(buf, make([]byte, 12)...)
	buf = appendName(buf, r.Question[0].Name)
	buf = binary.BigEndian.AppendUint16(buf, r.Question[0].Qtype)
	buf = binary.BigEndian.AppendUint16(buf, r.Question[0].Qclass)
	an, truncated := 0, false
	for _, i := range perm {
		if len(buf)+len(pa.answers[i]) > size {
			truncated = true
			break
		}
		buf = append(buf, pa.answers[i]...)
		an++
	}
	ar := 0
	if !truncated && len(pa.extra) > 0 {
		var small [64]bool
		seen := small[:]
		if len(pa.extra) > len(small) {
			seen = make([]bool, len(pa.extra))
		}
		for _, i := range perm[:an] {
			g := pa.glue[i]
			if g < 0 || seen[g] || len(buf)+len(pa.extra[g]) > size {
				continue
			}
			seen[g] = true
			buf = append(buf, pa.extra[g]...)
			ar++
		}
	}
	if opt != nil {
		buf = appendOPT(buf, opt)
		ar++
	}
	writeHeader(buf, r, truncated, an, ar)
	return buf
}

// writeHeader fills in the 12 header bytes of a reply to r.
func writeHeader(buf []byte, r *dns.Msg, truncated bool, an, ar int) {
	flags := uint16(1<<15 | 1<<10) // QR, AA; opcode QUERY, rcode NOERROR
	if truncated {
		flags |= 1 << 9
	}
	if r.RecursionDesired {
		flags |= 1 << 8
	}
	if r.CheckingDisabled {
		flags |= 1 << 4
	}
	binary.BigEndian.PutUint16(buf[0:], r.Id)
	binary.BigEndian.PutUint16(buf[2:], flags)
	binary.BigEndian.PutUint16(buf[4:], 1)
	binary.BigEndian.PutUint16(buf[6:], uint16(an))
	binary.BigEndian.PutUint16(buf[8:], 0)
	binary.BigEndian.PutUint16(buf[10:], uint16(ar))
}

// appendOPT appends the reply's OPT record, as CoreDNS's own writer would
// make it: the request's buffer size and DO bit, version 0, no options.
func appendOPT(buf []byte, opt *dns.OPT) []byte {
	buf = append(buf, 0) // root
	buf = binary.BigEndian.AppendUint16(buf, dns.TypeOPT)
	buf = binary.BigEndian.AppendUint16(buf, opt.UDPSize())
	var flags uint32
	if opt.Do() {
		flags = 1 << 15
	}
	buf = binary.BigEndian.AppendUint32(buf, flags)
	return binary.BigEndian.AppendUint16(buf, 0)
}

// appendName appends a fully qualified name without escapes in wire form.
func appendName(buf []byte, name string) []byte {
	for name != "." && name != "" {
		l, rest, _ := strings.Cut(name, ".")
		buf = append(buf, byte(len(l)))
		buf = append(buf, l...)
		name = rest
	}
	return append(buf, 0)
}
