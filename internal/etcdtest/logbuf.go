package etcdtest

import (
	"bytes"
	"strings"
	"sync"
)

// logKeep bounds the log kept for each member; a failed test shows its tail.
const logKeep = 1 << 20

// tailBuffer keeps the last logKeep bytes written to it, from any goroutine.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *tailBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if len(l.b) > logKeep {
		l.b = append([]byte(nil), l.b[len(l.b)-logKeep/2:]...)
	}
	return len(p), nil
}

// tail returns the last n lines.
func (l *tailBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := bytes.TrimRight(l.b, "\n")
	i := len(b)
	for ; n > 0 && i > 0; n-- {
		i = bytes.LastIndexByte(b[:i], '\n')
		if i < 0 {
			i = 0
		}
	}
	return strings.TrimLeft(string(b[i:]), "\n")
}

func (l *tailBuffer) contains(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Contains(l.b, []byte(s))
}
