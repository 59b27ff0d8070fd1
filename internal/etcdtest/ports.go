package etcdtest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Ports are picked at random below the kernel's ephemeral range, so that
// neither an outgoing connection nor another test's listener on port 0 takes
// the port of a killed member before it restarts.
const (
	portLow        = 15000
	ephemeralStart = "/proc/sys/net/ipv4/ip_local_port_range"
)

var (
	portMu    sync.Mutex
	portsUsed = map[int]bool{} // never handed out twice in one test binary
)

// pickPort returns a port that 127.0.0.1 can bind now.
func pickPort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	hi := ephemeralLow()
	for range 100 {
		p := portLow
		if hi > portLow {
			p += rand.IntN(hi - portLow)
		}
		if !portsUsed[p] && canBind(p) {
			portsUsed[p] = true
			return p, nil
		}
	}
	return 0, fmt.Errorf("no free port in [%d, %d) on 127.0.0.1", portLow, hi)
}

func canBind(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// ephemeralLow returns the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile(ephemeralStart)
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= portLow {
		return 32768
	}
	return n
}
