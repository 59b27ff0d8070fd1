package client

import (
	"context"
	"encoding/json"
	"net/http"
)

// MaxHeartbeats is the most instances a server takes in one batch of
// heartbeats; Heartbeats splits longer lists into several calls.
const MaxHeartbeats = 5000

// InstanceRef names one instance of a service.
type InstanceRef struct {
	Service string `json:"service"`
	ID      string `json:"id"`
}

// HeartbeatsResult is what a batch of heartbeats found.
type HeartbeatsResult struct {
	// Renewed counts the leases renewed.
	Renewed int `json:"renewed"`
	// Unknown are instances the server does not know (it restarted, or
	// their lease ran out long ago): register them again.
	Unknown []InstanceRef `json:"unknown"`
	// NoLease are instances registered without a TTL, which have no lease
	// to renew: their health comes from their check, or register them
	// again with a TTL.
	NoLease []InstanceRef `json:"no_lease"`
}

// Heartbeats renews the leases of many instances in one call
// (PUT /v1/heartbeats), as a node agent serving many instances does: one
// request instead of one per instance. An instance whose lease had run out
// turns passing again, as with Heartbeat. The instances the server does not
// hold come back in the result instead of failing the call. Lists longer
// than MaxHeartbeats go in several calls; a failure stops at the call that
// failed, with the result of the calls before it.
func (c *Client) Heartbeats(ctx context.Context, refs []InstanceRef) (HeartbeatsResult, error) {
	var res HeartbeatsResult
	for start := 0; start < len(refs); start += MaxHeartbeats {
		chunk := refs[start:min(start+MaxHeartbeats, len(refs))]
		body, err := json.Marshal(chunk)
		if err != nil {
			return res, err
		}
		var part HeartbeatsResult
		if _, err := c.do(ctx, request{method: http.MethodPut, path: "/v1/heartbeats", body: body}, &part); err != nil {
			return res, err
		}
		res.Renewed += part.Renewed
		res.Unknown = append(res.Unknown, part.Unknown...)
		res.NoLease = append(res.NoLease, part.NoLease...)
	}
	return res, nil
}
