package grpcresolver

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/signpost-dns/signpost/client"
	"google.golang.org/grpc/attributes"
	"google.golang.org/grpc/resolver"
)

// filter picks the instances of a service that get traffic: healthy ones
// (passing, and warning where asked for) carrying every tag asked for, as
// DNS answers do for a tag.
type filter struct {
	tags    []string
	warning bool
}

func (f filter) match(in client.Instance) bool {
	switch in.Health {
	case client.Passing:
	case client.Warning:
		if !f.warning {
			return false
		}
	default:
		return false
	}
	for _, t := range f.tags {
		if !slices.Contains(in.Tags, t) {
			return false
		}
	}
	return true
}

// String describes the filter in an error message.
func (f filter) String() string {
	var b strings.Builder
	for _, t := range f.tags {
		fmt.Fprintf(&b, " tagged %q", t)
	}
	if f.warning {
		b.WriteString(" (passing or warning)")
	}
	return b.String()
}

// instanceKey is the key of an endpoint attribute holding its instance.
type instanceKey struct{}

// instanceAttr is the instance behind an endpoint, as an attribute value;
// attributes need values comparable by an Equal method.
type instanceAttr struct{ in client.Instance }

// Equal reports whether o is the same instance with the same health,
// weight, tags and metadata.
func (a instanceAttr) Equal(o any) bool {
	b, ok := o.(instanceAttr)
	return ok && a.in.ID == b.in.ID && a.in.Address == b.in.Address && a.in.Port == b.in.Port &&
		a.in.Health == b.in.Health && a.in.Weight == b.in.Weight &&
		slices.Equal(a.in.Tags, b.in.Tags) && maps.Equal(a.in.Meta, b.in.Meta)
}

// InstanceOf returns the Signpost instance behind an endpoint or address
// that this resolver produced, for balancers that weigh instances by
// their weight, tags or metadata.
func InstanceOf(e resolver.Endpoint) (client.Instance, bool) {
	a, ok := e.Attributes.Value(instanceKey{}).(instanceAttr)
	return a.in, ok
}

// newState returns the resolver state for a service: one endpoint per
// instance that the filter picks, in the server's order (by id), and the
// same as plain addresses for balancers that read those. It also returns a
// key that stays the same while the picked instances do, so that a
// blocking query that ran out without a change pushes nothing.
func newState(info client.ServiceInfo, f filter) (resolver.State, string) {
	var (
		st  resolver.State
		key strings.Builder
	)
	for _, in := range info.Instances {
		if !f.match(in) {
			continue
		}
		addr := resolver.Address{Addr: net.JoinHostPort(in.Address, strconv.Itoa(in.Port))}
		st.Addresses = append(st.Addresses, addr)
		st.Endpoints = append(st.Endpoints, resolver.Endpoint{
			Addresses:  []resolver.Address{addr},
			Attributes: attributes.New(instanceKey{}, instanceAttr{in}),
		})
		fmt.Fprintf(&key, "%q %s %s %d %q %q\n", in.ID, addr.Addr, in.Health, in.Weight, in.Tags, in.Meta)
	}
	return st, key.String()
}
