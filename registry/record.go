package registry

import (
	"encoding/json"
	"strconv"
	"unsafe"
)

// decodeRecord decodes a stored record as json.Unmarshal would, without
// reflection for the records the store writes itself: a start reads every
// record of the data file, a million of them for a million instances. A
// record in any other form (escaped strings, meta, keys in another case,
// unknown keys, numbers not plain integers) goes to json.Unmarshal.
func decodeRecord(data []byte, rec *record) error {
	if fastRecord(data, rec) {
		return nil
	}
	*rec = record{}
	return json.Unmarshal(data, rec)
}

// fastRecord decodes data into rec when it holds only the plain forms, and
// reports whether it did.
func fastRecord(data []byte, rec *record) bool {
	p := recordParser{data: data}
	return p.record(rec)
}

// record decodes the parser's data into rec when it holds only the plain
// forms, and reports whether it did.
func (p *recordParser) record(rec *record) bool {
	if !p.take('{') {
		return false
	}
	if p.take('}') {
		return p.end()
	}
	for {
		key, ok := p.str()
		if !ok || !p.take(':') {
			return false
		}
		switch key {
		case "v":
			n, ok := p.uint(1<<31 - 1)
			if !ok {
				return false
			}
			rec.Version = int(n)
		case "service":
			if rec.Service, ok = p.str(); !ok {
				return false
			}
		case "id":
			if rec.ID, ok = p.str(); !ok {
				return false
			}
		case "address":
			if rec.Address, ok = p.str(); !ok {
				return false
			}
		case "port":
			n, ok := p.uint(1<<16 - 1)
			if !ok {
				return false
			}
			rec.Port = uint16(n)
		case "weight":
			n, ok := p.uint(1<<16 - 1)
			if !ok {
				return false
			}
			rec.Weight = uint16(n)
		case "tags":
			if rec.Tags, ok = p.strings(); !ok {
				return false
			}
		case "ttl":
			if rec.TTL, ok = p.str(); !ok {
				return false
			}
		case "check":
			if rec.Check, ok = p.str(); !ok {
				return false
			}
		case "health":
			name, ok := p.str()
			if !ok {
				return false
			}
			h, err := ParseHealth(name)
			if err != nil {
				return false // the general decoder says what is wrong
			}
			rec.Health = h
		case "output":
			if rec.Output, ok = p.str(); !ok {
				return false
			}
		case "expired":
			if rec.Expired, ok = p.str(); !ok {
				return false
			}
		case "create_index":
			if rec.CreateIndex, ok = p.uint(1<<64 - 1); !ok {
				return false
			}
		case "modify_index":
			if rec.ModifyIndex, ok = p.uint(1<<64 - 1); !ok {
				return false
			}
		default:
			return false // meta, or anything else: the general decoder
		}
		if p.take('}') {
			return p.end()
		}
		if !p.take(',') {
			return false
		}
	}
}

// recordParser reads the compact JSON that json.Marshal writes: no white
// space is expected, and any is left to the general decoder.
type recordParser struct {
	data []byte
	i    int
	// alias makes the strings read point into data instead of copies of
	// it, for a caller that copies what it keeps before data goes away.
	alias bool
	// tags is where a list of strings is read into, reused from record to
	// record when set (a caller that keeps a copy of the list).
	tags []string
}

func (p *recordParser) take(c byte) bool {
	if p.i < len(p.data) && p.data[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *recordParser) end() bool { return p.i == len(p.data) }

// str reads a string of printable ASCII without escapes.
func (p *recordParser) str() (string, bool) {
	if !p.take('"') {
		return "", false
	}
	start := p.i
	for ; p.i < len(p.data); p.i++ {
		switch c := p.data[p.i]; {
		case c == '"':
			var s string
			switch {
			case p.i == start:
			case p.alias:
				s = unsafe.String(&p.data[start], p.i-start)
			default:
				s = string(p.data[start:p.i])
			}
			p.i++
			return s, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return "", false
		}
	}
	return "", false
}

// uint reads a plain unsigned integer of at most limit.
func (p *recordParser) uint(limit uint64) (uint64, bool) {
	start := p.i
	for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
		p.i++
	}
	digits := p.data[start:p.i]
	if len(digits) == 0 || (len(digits) > 1 && digits[0] == '0') {
		return 0, false
	}
	if p.i < len(p.data) && (p.data[p.i] == '.' || p.data[p.i] == 'e' || p.data[p.i] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseUint(unsafe.String(unsafe.SliceData(digits), len(digits)), 10, 64) // not kept
	if err != nil || n > limit {
		return 0, false
	}
	return n, true
}

// strings reads a list of strings.
func (p *recordParser) strings() ([]string, bool) {
	if !p.take('[') {
		return nil, false
	}
	out := []string{}
	if p.tags != nil {
		out = p.tags[:0]
	}
	if p.take(']') {
		return out, true
	}
	for {
		s, ok := p.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		if p.take(']') {
			if p.tags != nil {
				p.tags = out // grown, for the next record
			}
			return out, true
		}
		if !p.take(',') {
			return nil, false
		}
	}
}
