package healthcheck

// health turns a check's probe results into its state. The state starts
// unknown. It moves to a better state after rise results in a row better than
// it (for the unknown state: passing or warning), and to a worse one after
// fall results in a row worse than it (for the unknown state: critical),
// taking the status of the last of those results. So a new check is first
// reported passing after rise successes or critical after fall failures, and
// a result equal to the state breaks any streak.
type health struct {
	status Status
	known  bool
	streak int  // results in a row on one side of status
	up     bool // the side: better (true) or worse
}

// observe records one result and returns the new state and true when the
// state changed.
func (h *health) observe(r Status, rise, fall int) (Status, bool) {
	up, down := r < h.status, r > h.status
	if !h.known {
		up, down = r != Critical, r == Critical
	}
	if !up && !down {
		h.streak = 0
		return h.status, false
	}
	if h.up != up {
		h.streak = 0
	}
	h.up = up
	h.streak++
	need := fall
	if up {
		need = rise
	}
	if h.streak < need {
		return h.status, false
	}
	h.status, h.known, h.streak = r, true, 0
	return r, true
}
