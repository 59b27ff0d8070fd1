package grpcresolver

import (
	"testing"

	"github.com/signpost-dns/signpost/client"
)

func TestNewState(t *testing.T) {
	w1 := inst("w1", "10.0.0.1", 80, "primary")
	w1.Meta = map[string]string{"zone": "a"}
	w2 := inst("w2", "2001:db8::2", 443)
	w2.Weight = 5
	info := client.ServiceInfo{Name: "web", Instances: []client.Instance{w1, w2}}
	st, key := newState(info, filter{})
	if len(st.Endpoints) != 2 || len(st.Addresses) != 2 || st.Addresses[1].Addr != "[2001:db8::2]:443" ||
		st.Endpoints[1].Addresses[0] != st.Addresses[1] {
		t.Fatalf("state %+v", st)
	}
	in, ok := InstanceOf(st.Endpoints[1])
	if !ok || in.ID != "w2" || in.Weight != 5 {
		t.Errorf("InstanceOf: %+v, %v", in, ok)
	}
	if _, ok := InstanceOf(st.Endpoints[0]); !ok {
		t.Error("InstanceOf w1: none")
	}

	// The key changes with what a balancer may act on, not with indexes.
	info.Instances[0].ModifyIndex = 99
	if _, k := newState(info, filter{}); k != key {
		t.Error("the key changed with the modify index")
	}
	info.Instances[0].Meta = map[string]string{"zone": "b"}
	if _, k := newState(info, filter{}); k == key {
		t.Error("the key did not change with the metadata")
	}
	info.Instances[0].Meta = w1.Meta
	info.Instances[1].Weight = 1
	if _, k := newState(info, filter{}); k == key {
		t.Error("the key did not change with the weight")
	}
}

func TestInstanceAttrEqual(t *testing.T) {
	a := instanceAttr{inst("w1", "10.0.0.1", 80, "primary")}
	b := instanceAttr{inst("w1", "10.0.0.1", 80, "primary")}
	b.in.ModifyIndex = 7
	if !a.Equal(b) {
		t.Error("equal instances differ")
	}
	b.in.Health = client.Warning
	if a.Equal(b) || a.Equal("w1") {
		t.Error("different instances equal")
	}
}
