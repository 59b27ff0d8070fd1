package signpost

import (
	"context"
	"net"
	"reflect"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// The fast path writes a reply as bytes (ResponseWriter.Write) rather than
// as a message (WriteMsg). That is only right when every writer between
// Signpost and the server passes bytes through and needs nothing from the
// reply but its bytes. Plugins before Signpost in the chain may wrap the
// writer: some only to count (prometheus) or to note which plugin wrote the
// reply (CoreDNS's plugin.NextOrFailure wraps the writer of every plugin it
// calls), others to read or change the reply as a message (cache, rewrite,
// loadbalance, log, dnstap, header, nsid, trace...). The rule is an
// allow-list: a writer whose type is not known to pass bytes through gets
// the general path, so a plugin that needs the message always gets one.

// rawWriter reports whether replies may be written to w as bytes: whether
// every writer from w down to the server's scrubbing writer is known to pass
// bytes through without needing the reply as a message.
func rawWriter(w dns.ResponseWriter) bool {
	for range maxWriterDepth {
		switch x := w.(type) {
		case *request.ScrubWriter:
			// The writer the server hands to the plugin chain; it makes
			// messages fit the client's buffer, which writePacked does
			// itself, and passes bytes through.
			return true
		case *metrics.Recorder:
			// prometheus: counts the reply's size from its bytes and
			// takes the rcode as NOERROR unless a message says otherwise,
			// which a positive answer is. (The log plugin's recorder, a
			// bare dnstest.Recorder, is not here: log reads the reply's
			// flags and class from the message.)
			w = x.Recorder.ResponseWriter
		default:
			inner, ok := unwrapPluginWriter(w)
			if !ok {
				return false
			}
			w = inner
		}
	}
	return false
}

// maxWriterDepth bounds the walk down the writers: one per plugin before
// Signpost and a few recorders, far more than any chain holds.
const maxWriterDepth = 64

// pluginWriterType is the type of the writer that plugin.NextOrFailure wraps
// around the writer of every plugin it calls, to tell the prometheus
// recorder which plugin wrote the reply. CoreDNS does not export it, so it
// is found once by calling NextOrFailure, and used only if it has the
// expected shape: a struct whose first field is the embedded writer it
// wraps. Its Write passes the bytes on.
var pluginWriterType = findPluginWriterType()

var responseWriterType = reflect.TypeFor[dns.ResponseWriter]()

func findPluginWriterType() reflect.Type {
	var seen dns.ResponseWriter
	probe := &probeWriter{}
	plugin.NextOrFailure("signpost", plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, _ *dns.Msg) (int, error) {
		seen = w
		return dns.RcodeSuccess, nil
	}), context.Background(), probe, new(dns.Msg))
	if seen == nil || seen == dns.ResponseWriter(probe) {
		return nil
	}
	t := reflect.TypeOf(seen)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct || t.Elem().NumField() == 0 {
		return nil
	}
	if f := t.Elem().Field(0); !f.Anonymous || f.Type != responseWriterType || f.Offset != 0 {
		return nil
	}
	// The wrapped writer must be the one NextOrFailure was given.
	if inner, _ := reflect.ValueOf(seen).Elem().Field(0).Interface().(dns.ResponseWriter); inner != dns.ResponseWriter(probe) {
		return nil
	}
	return t
}

// unwrapPluginWriter returns the writer that a plugin.NextOrFailure writer
// wraps, and false for any other writer.
func unwrapPluginWriter(w dns.ResponseWriter) (dns.ResponseWriter, bool) {
	if pluginWriterType == nil || reflect.TypeOf(w) != pluginWriterType {
		return nil, false
	}
	// findPluginWriterType checked that the writer's first field, at
	// offset 0, is the embedded dns.ResponseWriter: read it in place.
	// (reflect's Field(0).Interface() costs five times as much, most of
	// the fast path's gain on a chain of three plugins.)
	inner := *(*dns.ResponseWriter)(reflect.ValueOf(w).UnsafePointer())
	return inner, inner != nil
}

// probeWriter is the writer findPluginWriterType hands to NextOrFailure.
type probeWriter struct{}

func (*probeWriter) LocalAddr() net.Addr         { return nil }
func (*probeWriter) RemoteAddr() net.Addr        { return nil }
func (*probeWriter) WriteMsg(*dns.Msg) error     { return nil }
func (*probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (*probeWriter) Close() error                { return nil }
func (*probeWriter) TsigStatus() error           { return nil }
func (*probeWriter) TsigTimersOnly(bool)         {}
func (*probeWriter) Hijack()                     {}
