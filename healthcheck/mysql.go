package healthcheck

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
)

// maxGreeting bounds the handshake packet read; a real one is about 100 bytes.
const maxGreeting = 4096

// probeMySQL reads the initial handshake packet a MySQL or MariaDB server
// sends on connect and passes when it is a protocol 10 greeting. An ERR
// packet instead (Too many connections, Host is blocked ...) fails with the
// server's code and message. No credentials are sent.
//
// The connection is closed right after the greeting, which the server counts
// as an aborted connect; for hosts outside loopback MySQL blocks the prober
// after max_connect_errors of them in a row with no good login between, so
// set max_connect_errors high on probed servers.
func probeMySQL(ctx context.Context, c Check) error {
	return withConn(ctx, c.Target, func(conn net.Conn) error {
		payload, err := readMySQLPacket(conn)
		if err != nil {
			return fmt.Errorf("mysql handshake: %w", err)
		}
		return parseGreeting(payload)
	})
}

// readMySQLPacket reads one packet: a 3-byte little-endian length, a
// sequence number (0 for the greeting), then the payload.
func readMySQLPacket(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n == 0 || n > maxGreeting || hdr[3] != 0 {
		return nil, fmt.Errorf("not a greeting packet (length %d, sequence %d)", n, hdr[3])
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, err
	}
	return payload, nil
}

// parseGreeting accepts a HandshakeV10 packet: protocol version 10, a
// NUL-terminated server version, then at least the connection id (4 bytes),
// the first auth data part (8) and a filler (1).
func parseGreeting(p []byte) error {
	switch p[0] {
	case 0xff:
		return parseMySQLError(p)
	case 10:
	default:
		return fmt.Errorf("mysql protocol version %d, want 10", p[0])
	}
	end := bytes.IndexByte(p[1:], 0)
	if end < 1 || len(p) < 1+end+1+4+8+1 {
		return errors.New("mysql greeting malformed")
	}
	return nil
}

// parseMySQLError reads an ERR packet: 0xff, a 2-byte code, an optional
// '#' and 5-byte SQL state, then the message.
func parseMySQLError(p []byte) error {
	if len(p) < 3 {
		return errors.New("mysql error packet truncated")
	}
	code := binary.LittleEndian.Uint16(p[1:3])
	msg := p[3:]
	if len(msg) >= 6 && msg[0] == '#' {
		msg = msg[6:]
	}
	return fmt.Errorf("mysql error %d: %s", code, bytes.ToValidUTF8(msg, []byte("?")))
}
