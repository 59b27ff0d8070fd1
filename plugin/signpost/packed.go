package signpost

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/coredns/coredns/request"
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

// packedAnswer is the positive answer to one name and type, for one
// snapshot: every record it may hold, in wire form and as data, from which
// each reply picks its own (see choose). It is the one place that decides
// which records an answer holds; the fast path writes its bytes, the general
// path turns its data into records, and both pick with choose.
type packedAnswer struct {
	index   uint64   // the snapshot it was built from
	result  string   // for metrics: resultSuccess or resultFailover
	answers [][]byte // one record each; owner is a pointer to the question
	records []packedRecord
	glue    []int // per answer, its record in extra, or -1
	extra   [][]byte
	extraOf []netip.Addr // the address of each glue record
	// cname is the load balancer's name when the service fails over to it:
	// the general path answers with the CNAME and what it leads to.
	cname string
	// byAddr indexes, while pack builds a large answer, the address records
	// (A, AAAA) or the glue (SRV) by address, so that a service of n
	// instances packs in O(n) rather than O(n²); nil once packed.
	byAddr map[netip.Addr]int
}

// packedRecord is what one answer record says: an address, and for SRV its
// port and weight. Glue records are the A or AAAA record of the address.
type packedRecord struct {
	addr         netip.Addr
	port, weight uint16
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
	pa := sp.answer(key, zone, snap)
	if pa.answers == nil {
		return ""
	}
	bp := bufPool.Get().(*[]byte)
	buf := sp.writePacked((*bp)[:0], r, state, pa)
	packedAnswers.Inc() // before the reply leaves, so that a client that saw it sees it counted
	w.Write(buf)
	*bp = buf
	bufPool.Put(bp)
	return pa.result
}

// answer returns the packed answer for key, from the cache when it holds
// one for this snapshot.
func (sp *Signpost) answer(key packedKey, zone string, snap *registry.Snapshot) *packedAnswer {
	if sp.cache == nil {
		pa, _ := sp.pack(key, zone, snap)
		return pa
	}
	pa, ok := sp.cache.get(key)
	if !ok || pa.index != snap.Index() {
		var keep bool
		if pa, keep = sp.pack(key, zone, snap); keep {
			sp.cache.add(key, pa)
		}
	}
	return pa
}

// pack builds the packed answer for key. An answer without records means
// the query takes the general path (negative answers, ANY, CNAME failover);
// keep says whether to cache it: not for names that do not exist, so that
// queries for random names cannot push real answers out of the cache.
func (sp *Signpost) pack(key packedKey, zone string, snap *registry.Snapshot) (pa *packedAnswer, keep bool) {
	pa = &packedAnswer{index: snap.Index(), result: resultSuccess}
	q, err := sp.parse(key.name, zone)
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
	if svc.FailingOver(q.tag, sp.opts.serveWarning) {
		fo, _ := svc.Failover()
		if fo.Name != "" {
			pa.cname, pa.result = fo.Name, resultFailover
			return pa, true
		}
		pa.result = resultFailover
		sp.packFailover(pa, key.qtype, zone, svc, fo)
	} else {
		for _, in := range svc.Select(nil, q.tag, sp.opts.serveWarning) {
			sp.packInstance(pa, key.qtype, zone, in.Address, in.Port, in.Weight)
		}
	}
	pa.byAddr = nil
	return pa, true
}

func (sp *Signpost) packFailover(pa *packedAnswer, qtype uint16, zone string, svc *registry.Service, fo registry.Failover) {
	port := fo.Port
	if port == 0 {
		port = svc.CommonPort()
	}
	if qtype == dns.TypeSRV && port == 0 {
		return
	}
	for _, a := range fo.Addrs {
		sp.packInstance(pa, qtype, zone, a, port, 1)
	}
}

// packInstance adds the record of one address to pa: its A or AAAA record,
// or its SRV record with the address as glue. Addresses seen before add no
// second A record and no second glue.
func (sp *Signpost) packInstance(pa *packedAnswer, qtype uint16, zone string, a netip.Addr, port, weight uint16) {
	if qtype != dns.TypeSRV {
		if (qtype == dns.TypeA) != a.Is4() || pa.find(a, len(pa.records), func(i int) netip.Addr { return pa.records[i].addr }) >= 0 {
			return
		}
		pa.indexAddr(a, len(pa.records))
		pa.answers = append(pa.answers, sp.packAddr(nil, a))
		pa.records = append(pa.records, packedRecord{addr: a})
		pa.glue = append(pa.glue, -1)
		return
	}
	// SRV targets are written whole: RFC 2782 (and RFC 3597 for types
	// newer than RFC 1035) forbids compressing them. The target is also
	// the owner of the glue, uncompressed so that a record's size here is
	// never less than what CoreDNS's writer makes of it.
	t := sp.target(a, zone)
	target := appendName(make([]byte, 0, len(t)+2), t)
	rr := binary.BigEndian.AppendUint16(nil, 0xC00C) // owner: the question
	rr = sp.appendHeader(rr, dns.TypeSRV, 6+len(target))
	rr = binary.BigEndian.AppendUint16(rr, 0) // priority
	rr = binary.BigEndian.AppendUint16(rr, weight)
	rr = binary.BigEndian.AppendUint16(rr, port)
	rr = append(rr, target...)
	// The target is made from the address alone: one glue per address.
	glue := pa.find(a, len(pa.extraOf), func(i int) netip.Addr { return pa.extraOf[i] })
	if glue < 0 {
		glue = len(pa.extra)
		pa.indexAddr(a, glue)
		pa.extra = append(pa.extra, sp.packAddr(target, a))
		pa.extraOf = append(pa.extraOf, a)
	}
	pa.answers = append(pa.answers, rr)
	pa.records = append(pa.records, packedRecord{addr: a, port: port, weight: weight})
	pa.glue = append(pa.glue, glue)
}

// linearAddrs is how many addresses find compares one by one before it
// builds pa.byAddr.
const linearAddrs = 16

// find returns the position of a among the n addresses that at returns, or
// -1.
func (pa *packedAnswer) find(a netip.Addr, n int, at func(int) netip.Addr) int {
	if pa.byAddr == nil {
		if n <= linearAddrs {
			for i := range n {
				if at(i) == a {
					return i
				}
			}
			return -1
		}
		pa.byAddr = make(map[netip.Addr]int, 2*n)
		for i := range n {
			pa.indexAddr(at(i), i)
		}
	}
	if i, ok := pa.byAddr[a]; ok {
		return i
	}
	return -1
}

// indexAddr notes that a is at position i, once find has built the index.
func (pa *packedAnswer) indexAddr(a netip.Addr, i int) {
	if pa.byAddr != nil {
		if _, ok := pa.byAddr[a]; !ok {
			pa.byAddr[a] = i
		}
	}
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

// writePacked appends to buf the reply to r from pa, with the records that
// choose picks.
func (sp *Signpost) writePacked(buf []byte, r *dns.Msg, state *request.Request, pa *packedAnswer) []byte {
	buf = append(buf, make([]byte, 12)...)
	buf = appendName(buf, r.Question[0].Name)
	buf = binary.BigEndian.AppendUint16(buf, r.Question[0].Qtype)
	buf = binary.BigEndian.AppendUint16(buf, r.Question[0].Qclass)
	opt := r.IsEdns0()
	var abuf, gbuf [64]int
	c := sp.choose(pa, replyRoom(state, opt, len(buf)), abuf[:0], gbuf[:0])
	for _, i := range c.answers {
		buf = append(buf, pa.answers[i]...)
	}
	for _, g := range c.glue {
		buf = append(buf, pa.extra[g]...)
	}
	ar := len(c.glue)
	if opt != nil {
		buf = appendOPT(buf, opt)
		ar++
	}
	writeHeader(buf, r, c.truncated, len(c.answers), ar)
	return buf
}

// replyRoom is how many bytes of records a reply to state may carry after
// its header and question (head bytes) and its OPT record, if any.
func replyRoom(state *request.Request, opt *dns.OPT, head int) int {
	size := state.Size()
	if opt != nil {
		size -= 11 // the OPT record of the reply
	}
	return size - head
}

// choice is the records of a packed answer that one reply carries, in order.
type choice struct {
	answers   []int // into pa.answers
	glue      []int // into pa.extra
	truncated bool  // answers were left out for want of room
}

// choose picks the records of one reply from pa: answers shuffled, at most
// max-answers of them, as many as fit in room bytes (TC when one does not),
// then the glue of the answers taken, each while it fits, when no answer was
// left out. Sizes are those of the packed records, so that the general path,
// whose writer compresses at least as well, fits the same records.
func (sp *Signpost) choose(pa *packedAnswer, room int, answers, glue []int) choice {
	n := len(pa.answers)
	answers = sp.pick(answers, n, pickLimit(n, sp.opts.maxAnswers, room))
	c := choice{glue: glue}
	for k, i := range answers {
		if room < len(pa.answers[i]) {
			c.truncated, answers = true, answers[:k]
			break
		}
		room -= len(pa.answers[i])
	}
	c.answers = answers
	if c.truncated || len(pa.extra) == 0 {
		return c
	}
	var small [64]bool
	seen := small[:]
	if len(pa.extra) > len(small) {
		seen = nil // few answers of many: look in c.glue instead
	}
	for _, i := range c.answers {
		g := pa.glue[i]
		if g < 0 || room < len(pa.extra[g]) {
			continue
		}
		if seen != nil {
			if seen[g] {
				continue
			}
			seen[g] = true
		} else if slices.Contains(c.glue, g) {
			continue
		}
		room -= len(pa.extra[g])
		c.glue = append(c.glue, g)
	}
	return c
}

// minRecordLen is the size of the smallest record an answer holds: an A
// record whose owner points at the question.
const minRecordLen = 2 + 10 + 4

// pickLimit is how many of n answers choose needs to look at: no more than
// max-answers, and no more than fit in room bytes, plus one to find that
// the next does not fit.
func pickLimit(n, maxAnswers, room int) int {
	k := n
	if maxAnswers > 0 && maxAnswers < k {
		k = maxAnswers
	}
	if f := max(room, 0)/minRecordLen + 1; f < k {
		k = f
	}
	return k
}

// pick appends to dst k of the numbers 0 to n-1, chosen at random, in random
// order. For k close to n it shuffles them all; for few of many (a large
// service, a UDP reply) it runs the first k steps of a Fisher-Yates shuffle,
// keeping only the positions it moved, so that the cost follows k, not n.
func (sp *Signpost) pick(dst []int, n, k int) []int {
	if k >= n || n <= 64 || 4*k >= n {
		for i := range n {
			dst = append(dst, i)
		}
		sp.shuffle(n, func(i, j int) { dst[i], dst[j] = dst[j], dst[i] })
		return dst[:k]
	}
	// moved[p] is the number now at position p, where not p itself.
	var moved map[int]int
	var small [2 * 64]int // pairs of position and number, while k is small
	pairs := small[:0]
	at := func(p int) int {
		if moved != nil {
			if v, ok := moved[p]; ok {
				return v
			}
			return p
		}
		for i := 0; i < len(pairs); i += 2 {
			if pairs[i] == p {
				return pairs[i+1]
			}
		}
		return p
	}
	set := func(p, v int) {
		if moved == nil && len(pairs) < len(small) {
			for i := 0; i < len(pairs); i += 2 {
				if pairs[i] == p {
					pairs[i+1] = v
					return
				}
			}
			pairs = append(pairs, p, v)
			return
		}
		if moved == nil {
			moved = make(map[int]int, 2*k)
			for i := 0; i < len(pairs); i += 2 {
				moved[pairs[i]] = pairs[i+1]
			}
		}
		moved[p] = v
	}
	for i := range k {
		j := i + sp.intN(n-i)
		vi, vj := at(i), at(j)
		set(j, vi) // position i is never read again
		dst = append(dst, vj)
	}
	return dst
}

// intN is rand.IntN, or the test's own source of randomness.
func (sp *Signpost) intN(n int) int {
	if sp.rand != nil {
		return sp.rand.IntN(n)
	}
	return rand.IntN(n)
}

// shuffle is rand.Shuffle, or the test's own source of randomness.
func (sp *Signpost) shuffle(n int, swap func(i, j int)) {
	if sp.rand != nil {
		sp.rand.Shuffle(n, swap)
		return
	}
	rand.Shuffle(n, swap)
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
