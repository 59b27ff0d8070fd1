package registry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// keepAlives renews etcd leases over a few long-lived LeaseKeepAlive
// streams, many renewals in flight on each, where the client library's
// KeepAliveOnce opens a stream per renewal: a heartbeat costs one small
// message to etcd, and no raft write.
type keepAlives struct {
	cli     *clientv3.Client
	streams [keepAliveStreams]kaStream
	next    atomic.Uint32

	ctx    context.Context // ends every stream on close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// keepAliveStreams spreads renewals over streams: etcd answers the
// renewals of one stream one after another.
const keepAliveStreams = 4

var errStreamBroken = errors.New("etcd keep-alive stream broke")

type kaStream struct {
	mu      sync.Mutex
	stream  pb.Lease_LeaseKeepAliveClient // nil until opened, and after it broke
	cancel  context.CancelFunc            // ends stream
	waiters map[int64][]chan kaResult     // by lease, in the order sent
}

type kaResult struct {
	ttl int64
	err error
}

func newKeepAlives(cli *clientv3.Client) *keepAlives {
	ctx, cancel := context.WithCancel(context.Background())
	return &keepAlives{cli: cli, ctx: ctx, cancel: cancel}
}

// renew renews lease id once and returns its TTL in seconds: zero or less
// when etcd no longer knows it (it ran out).
func (k *keepAlives) renew(ctx context.Context, id clientv3.LeaseID) (int64, error) {
	s := &k.streams[k.next.Add(1)%keepAliveStreams]
	ch := make(chan kaResult, 1)
	stream, err := k.send(s, int64(id), ch)
	if err != nil {
		return 0, err
	}
	select {
	case r := <-ch:
		return r.ttl, r.err
	case <-ctx.Done():
		// No answer in time: the stream may hang on a connection that
		// is gone. End it; the next renewal opens another. A late
		// answer finds a buffered channel.
		s.reset(stream)
		return 0, ctx.Err()
	}
}

// reset ends stream if it is still s's.
func (s *kaStream) reset(stream pb.Lease_LeaseKeepAliveClient) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream == stream && s.cancel != nil {
		s.cancel()
	}
}

func (k *keepAlives) send(s *kaStream, id int64, ch chan kaResult) (pb.Lease_LeaseKeepAliveClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stream == nil {
		if err := k.open(s); err != nil {
			return nil, err
		}
	}
	s.waiters[id] = append(s.waiters[id], ch)
	if err := s.stream.Send(&pb.LeaseKeepAliveRequest{ID: id}); err != nil {
		q := s.waiters[id]
		s.waiters[id] = q[:len(q)-1]
		s.cancel()
		return nil, err
	}
	return s.stream, nil
}

// open starts a stream and the goroutine that reads its answers. The caller
// holds s.mu.
func (k *keepAlives) open(s *kaStream) error {
	if k.ctx.Err() != nil {
		return k.ctx.Err()
	}
	conn := k.cli.ActiveConnection()
	if conn == nil {
		return errStreamBroken
	}
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(k.ctx))
	stream, err := pb.NewLeaseClient(conn).LeaseKeepAlive(ctx)
	if err != nil {
		cancel()
		return err
	}
	s.stream, s.cancel, s.waiters = stream, cancel, make(map[int64][]chan kaResult)
	k.wg.Go(func() { k.read(s, stream) })
	return nil
}

// read hands each answer of stream to the renewal waiting for it. When the
// stream breaks, every renewal in flight on it fails and the next renewal
// opens a new one.
func (k *keepAlives) read(s *kaStream, stream pb.Lease_LeaseKeepAliveClient) {
	for {
		resp, err := stream.Recv()
		s.mu.Lock()
		if err != nil {
			if s.stream == stream {
				for _, q := range s.waiters {
					for _, ch := range q {
						ch <- kaResult{err: errors.Join(errStreamBroken, rpctypes.Error(err))}
					}
				}
				s.cancel()
				s.stream, s.cancel, s.waiters = nil, nil, nil
			}
			s.mu.Unlock()
			return
		}
		if q := s.waiters[resp.ID]; len(q) > 0 {
			q[0] <- kaResult{ttl: resp.TTL}
			if len(q) == 1 {
				delete(s.waiters, resp.ID)
			} else {
				s.waiters[resp.ID] = q[1:]
			}
		}
		s.mu.Unlock()
	}
}

// close ends every stream and waits for their readers.
func (k *keepAlives) close() {
	k.cancel()
	k.wg.Wait()
}
