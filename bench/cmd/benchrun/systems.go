package main

// fixedIP is the address the two ceilings answer every query with.
const fixedIP = "10.0.0.1"

// system is one measured combination of server and query type.
type system struct {
	id     string // short key, e.g. "signpost/A"
	label  string // for the table
	server *server
	qtype  string // "A" or "SRV"
	fixed  bool   // answers one fixed A record rather than the data set
	runs   []perfResult
	lat    []perfResult // fixed-load latency runs
}

// Keys of the systems the ratios are taken between.
const (
	sigA        = "signpost/A"
	sigSRV      = "signpost/SRV"
	hostsA      = "hosts/A"
	fileA       = "file/A"
	fileSRV     = "file/SRV"
	fixedA      = "fixed/A"
	miekgA      = "miekg/A"
	sigPlugA    = "signpost-plugins/A"
	sigPlugSRV  = "signpost-plugins/SRV"
	fixedPlugA  = "fixed-plugins/A"
	withPlugins = ", with prometheus, errors, reload"
)

// newSystems lists the systems over the servers of newServers, in order.
func (h *harness) newSystems() []*system {
	sp, hosts, file, fixed, miekg := h.server("signpost"), h.server("coredns-hosts"), h.server("coredns-file"), h.server("coredns-fixed"), h.server("miekg-ceiling")
	spPlug, fixedPlug := h.server("signpost-plugins"), h.server("coredns-fixed-plugins")
	return []*system{
		{id: sigA, label: "Signpost", server: sp, qtype: "A"},
		{id: sigSRV, label: "Signpost", server: sp, qtype: "SRV"},
		{id: hostsA, label: "CoreDNS hosts", server: hosts, qtype: "A"},
		{id: fileA, label: "CoreDNS file", server: file, qtype: "A"},
		{id: fileSRV, label: "CoreDNS file", server: file, qtype: "SRV"},
		{id: fixedA, label: "CoreDNS fixed-answer plugin (plugin ceiling)", server: fixed, qtype: "A", fixed: true},
		{id: miekgA, label: "bare miekg/dns (stack ceiling)", server: miekg, qtype: "A", fixed: true},
		{id: sigPlugA, label: "Signpost" + withPlugins, server: spPlug, qtype: "A"},
		{id: sigPlugSRV, label: "Signpost" + withPlugins, server: spPlug, qtype: "SRV"},
		{id: fixedPlugA, label: "CoreDNS fixed-answer plugin" + withPlugins, server: fixedPlug, qtype: "A", fixed: true},
	}
}

// ratio is one line of the ratio table: the median QPS of num over den.
type ratio struct {
	label    string
	num, den string
}

var ratios = []ratio{
	{"Signpost / CoreDNS hosts (A)", sigA, hostsA},
	{"Signpost / CoreDNS file (A)", sigA, fileA},
	{"Signpost / CoreDNS file (SRV)", sigSRV, fileSRV},
	{"Signpost / fixed-answer plugin (A)", sigA, fixedA},
	{"Signpost / bare miekg/dns (A)", sigA, miekgA},
	{"fixed-answer plugin / bare miekg/dns (A): CoreDNS's own server loop", fixedA, miekgA},
	{"Signpost with / without prometheus, errors, reload (A)", sigPlugA, sigA},
	{"Signpost with / without prometheus, errors, reload (SRV)", sigPlugSRV, sigSRV},
	{"Signpost / fixed-answer plugin, both with prometheus, errors, reload (A)", sigPlugA, fixedPlugA},
	{"fixed-answer plugin with / without prometheus, errors, reload (A)", fixedPlugA, fixedA},
}

// system returns the system with the key id.
func (h *harness) system(id string) *system {
	for _, s := range h.systems {
		if s.id == id {
			return s
		}
	}
	return nil
}
