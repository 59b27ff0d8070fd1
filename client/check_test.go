package client_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/client"
)

func TestCheckSpecJSON(t *testing.T) {
	c := client.CheckSpec{Type: "tcp", Interval: 1500 * time.Millisecond}
	b, err := json.Marshal(c)
	if err != nil || string(b) != `{"type":"tcp","interval":"1.5s"}` {
		t.Errorf("marshal: %s, %v", b, err)
	}
	var back client.CheckSpec
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("unmarshal: %+v, %v", back, err)
	}
	// Answers of a newer server with fields this client does not know.
	if err := json.Unmarshal([]byte(`{"type":"tcp","jitter":"1s"}`), &back); err != nil || back.Type != "tcp" {
		t.Errorf("unknown field in an answer: %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"type":"tcp","interval":"soon"}`), &back); err == nil {
		t.Error("bad interval in an answer: no error")
	}
}

func TestParseCheck(t *testing.T) {
	c, err := client.ParseCheck(` {"type":"http","path":"/healthz","interval":"5s","header":{"X-A":"b"},"tls_skip_verify":true} `)
	want := &client.CheckSpec{Type: "http", Path: "/healthz", Interval: 5 * time.Second, Header: map[string]string{"X-A": "b"}, TLSSkipVerify: true}
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v, %v; want %+v", c, err, want)
	}
	for in, msg := range map[string]string{
		``:                                     `check: empty, want a JSON object`,
		`http`:                                 `check: invalid character 'h'`,
		`"http"`:                               `check: want a JSON object such as`,
		`{"type":"tcp","colour":"red"}`:        `check: unknown field "colour"`,
		`{"type":"tcp","interval":5}`:          `check: interval: want a string, not number`,
		`{"type":"tcp","rise":"2"}`:            `check: rise: want a whole number, not string`,
		`{"type":"tcp","interval":"soon"}`:     `check: interval "soon": want a duration such as "5s"`,
		`{"type":"tcp"} {"type":"http"}`:       `check: want one JSON object and nothing after it`,
		`{"interval":"5s"}`:                    `check: "type" is required`,
		`{"type":"http","header":{"X-A":1}}`:   `check: header: want an object with string values, not number`,
		`{"type":"https","tls_skip_verify":1}`: `check: tls_skip_verify: want true or false, not number`,
	} {
		if _, err := client.ParseCheck(in); err == nil || !strings.HasPrefix(err.Error(), msg) {
			t.Errorf("ParseCheck(%s) = %v, want %s...", in, err, msg)
		}
	}
}
