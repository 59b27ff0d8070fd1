package grpcresolver

import (
	"net/url"
	"reflect"
	"testing"

	"google.golang.org/grpc/resolver"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in   string
		want target
	}{
		{"signpost:///web", target{service: "web"}},
		{"signpost:web", target{service: "web"}},
		{"signpost://10.0.0.2:8053/web", target{servers: []string{"10.0.0.2:8053"}, service: "web"}},
		{"signpost://10.0.0.2:8053,10.0.0.3:8053/web", target{servers: []string{"10.0.0.2:8053", "10.0.0.3:8053"}, service: "web"}},
		{"signpost:///web?tag=primary", target{service: "web", filter: filter{tags: []string{"primary"}}}},
		{"signpost:///web?tag=primary&tag=v2&warning=true", target{service: "web", filter: filter{tags: []string{"primary", "v2"}, warning: true}}},
		{"signpost:///web?warning=false", target{service: "web"}},
	}
	for _, tc := range tests {
		u, err := url.Parse(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseTarget(resolver.Target{URL: *u})
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}
