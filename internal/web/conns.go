package web

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Serve answers HTTP on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.app.Listener(s.silent.watch(ln))
}

// Shutdown stops accepting, closes idle connections and waits up to timeout for the requests in
// flight. fasthttp closes a keep-alive connection idle between requests, but not one that has
// not sent its first request yet (a browser's preconnect, or a connection Go's transport dialled
// for a request another connection then served): it waits on its read until the read timeout,
// which is as long as the shutdown's. So such connections are closed here, as net/http closes
// them: once they are old enough not to be a client about to send its request.
func (s *Server) Shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	stopped := make(chan struct{})
	defer close(stopped)
	go s.silent.closeWhileShuttingDown(stopped, min(silentGrace, timeout/2))
	return s.app.ShutdownWithContext(ctx)
}

// silentGrace is how long a connection may have been open without a byte before a shutdown
// takes it for one that will send nothing (net/http's figure for the same question).
const silentGrace = 5 * time.Second

// silentConns are the accepted connections that have not sent a byte yet, with when each was
// accepted.
type silentConns struct {
	mu    sync.Mutex
	conns map[*watchedConn]time.Time
}

func (s *silentConns) watch(ln net.Listener) net.Listener { return &watchingListener{ln, s} }

func (s *silentConns) forget(c *watchedConn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// closeWhileShuttingDown closes the silent connections accepted at least grace ago until stopped,
// as often as fasthttp looks for idle ones.
func (s *silentConns) closeWhileShuttingDown(stopped <-chan struct{}, grace time.Duration) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		for c, accepted := range s.conns {
			if time.Since(accepted) >= grace {
				_ = c.Conn.Close()
				delete(s.conns, c)
			}
		}
		s.mu.Unlock()
		select {
		case <-stopped:
			return
		case <-tick.C:
		}
	}
}

type watchingListener struct {
	net.Listener
	silent *silentConns
}

func (l *watchingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	c := &watchedConn{Conn: conn, silent: l.silent}
	l.silent.mu.Lock()
	if l.silent.conns == nil {
		l.silent.conns = map[*watchedConn]time.Time{}
	}
	l.silent.conns[c] = time.Now()
	l.silent.mu.Unlock()
	return c, nil
}

// watchedConn is an accepted connection that leaves the silent ones at its first byte.
type watchedConn struct {
	net.Conn
	silent *silentConns
	spoke  atomic.Bool
}

// Read ends a connection that sends nothing as its client closing it would: whatever ends its
// first read (the read timeout, the shutdown closing it), there is no request to answer. fasthttp
// would answer the read timeout with a 408 (our 503 "The request took too long"), which a client
// sending its first request at that moment would read as the answer to it.
func (c *watchedConn) Read(p []byte) (int, error) {
	if c.spoke.Load() {
		return c.Conn.Read(p)
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.spoke.Store(true)
		c.silent.forget(c)
		return n, err
	}
	if err != nil {
		return 0, io.EOF
	}
	return n, err
}

func (c *watchedConn) Close() error {
	c.silent.forget(c)
	return c.Conn.Close()
}
