package registry

import (
	"bytes"
	"net/netip"
	"testing"
	"time"
)

// FuzzDecodeRecord feeds stored records to the store's decoder: a record it
// takes must validate as a registration and encode back to a record that
// decodes to the same instance.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte("web/w1"), []byte(`{"v":1,"service":"web","id":"w1","address":"10.0.0.1","port":80,"weight":1,"ttl":"15s","create_index":3,"modify_index":4}`))
	f.Add([]byte("db/d1"), []byte(`{"v":1,"service":"db","id":"d1","address":"2001:db8::1","port":3306,"tags":["primary"],"meta":{"az":"a"},"weight":2,"check":"{\"type\":\"tcp\"}","create_index":1,"modify_index":1}`))
	f.Add([]byte("web/w2"), []byte(`{"v":1,"service":"web","id":"w2","address":"10.0.0.2","port":80,"weight":1,"ttl":"5s","expired":"2030-01-02T03:04:05Z","create_index":1,"modify_index":1}`))
	f.Add([]byte("web/w4"), []byte(`{"v":1,"service":"web","id":"w4","address":"10.0.0.4","port":80,"weight":1,"ttl":"15s","health":"critical","output":"disk full","create_index":2,"modify_index":5}`))
	f.Add([]byte("web/w5"), []byte(`{"v":1,"service":"web","id":"w5","address":"10.0.0.5","port":80,"weight":1,"ttl":"15s","health":"warning","output":"slow \u00e9","create_index":2,"modify_index":5}`))
	f.Add([]byte("db/d2"), []byte(`{"v":1,"service":"db","id":"d2","address":"10.0.0.6","port":80,"weight":1,"check":"{\"type\":\"tcp\"}","health":"passing","create_index":1,"modify_index":1}`))
	f.Add([]byte("web/w6"), []byte(`{"v":1,"service":"web","id":"w6","address":"10.0.0.7","port":80,"weight":1,"ttl":"15s","health":"sick","create_index":1,"modify_index":1}`))
	f.Add([]byte("web/w3"), []byte(`{"v":2}`))
	f.Add([]byte("x"), []byte(`not json`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		st, err := decode(key, value)
		if err != nil {
			return
		}
		if err := st.Instance.Validate(); err != nil {
			t.Fatalf("decoded an invalid instance %+v: %v", st.Instance, err)
		}
		again, err := decode(key, putRecordOp(st.Instance, st.output, st.expired).value)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !sameInstance(again.Instance, st.Instance) || !again.expired.Equal(st.expired) || again.output != st.output {
			t.Fatalf("round trip changed the instance: %+v -> %+v", st.Instance, again.Instance)
		}
	})
}

// FuzzRestoreBackup feeds backups to a registry: a bad one is refused whole
// and changes nothing; a good one leaves a consistent registry.
func FuzzRestoreBackup(f *testing.F) {
	f.Add([]byte(`{"version":1,"index":3,"instances":[{"v":1,"service":"web","id":"w1","address":"10.0.0.1","port":80,"weight":1,"ttl":"15s","create_index":1,"modify_index":1}]}`))
	f.Add([]byte(`{"version":1,"index":0,"instances":[]}`))
	f.Add([]byte(`{"version":2,"instances":[]}`))
	f.Add([]byte(`{"version":1,"instances":[{"v":1,"service":"web","id":"w1","address":"10.0.0.1","port":80},{"v":1,"service":"web","id":"w1","address":"10.0.0.2","port":80}]}`))
	f.Fuzz(func(t *testing.T, backup []byte) {
		r := New(Config{Now: func() time.Time { return time.Unix(1_900_000_000, 0) }})
		if _, err := r.Register(Instance{Service: "keep", ID: "k1", Address: netip.MustParseAddr("10.9.9.9"), Port: 1, Weight: 1}); err != nil {
			t.Fatal(err)
		}
		before := r.Snapshot()
		if err := r.RestoreBackup(bytes.NewReader(backup)); err != nil {
			if r.Snapshot() != before {
				t.Fatalf("a refused backup changed the registry: %v", err)
			}
			return
		}
		for _, svc := range r.Snapshot().Services() {
			for _, in := range svc.Instances() {
				if err := in.Validate(); err != nil {
					t.Fatalf("restored an invalid instance: %v", err)
				}
			}
		}
	})
}
