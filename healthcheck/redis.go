package healthcheck

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// maxReply bounds a RESP reply line; PONG, OK and error lines are short.
const maxReply = 512

// probeRedis sends AUTH first when a password is set, then PING, and passes
// on +PONG. An error reply (-NOAUTH, -WRONGPASS, -LOADING ...) fails with
// the server's words.
func probeRedis(ctx context.Context, c Check) error {
	return withConn(ctx, c.Target, func(conn net.Conn) error {
		r := bufio.NewReaderSize(conn, maxReply)
		if c.Password != "" {
			if err := redisCommand(conn, r, "+OK", "AUTH", c.Password); err != nil {
				return fmt.Errorf("redis AUTH: %w", err)
			}
		}
		if err := redisCommand(conn, r, "+PONG", "PING"); err != nil {
			return fmt.Errorf("redis PING: %w", err)
		}
		return nil
	})
}

// redisCommand sends one command as a RESP array of bulk strings and wants
// the simple-string reply want.
func redisCommand(conn net.Conn, r *bufio.Reader, want string, args ...string) error {
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	if _, err := conn.Write([]byte(b.String())); err != nil {
		return err
	}
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return errors.New("reply line too long")
	}
	if err != nil {
		return err
	}
	reply := strings.TrimRight(string(line), "\r\n")
	switch {
	case reply == want:
		return nil
	case strings.HasPrefix(reply, "-"):
		return errors.New(reply[1:])
	}
	return fmt.Errorf("unexpected reply %q", reply)
}
