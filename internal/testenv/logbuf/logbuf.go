// Package logbuf is the buffer tests point a logger at when a server's goroutines write to it
// while the test reads it. It lives apart from testenv so that tests of packages that never
// open a store (internal/web) need not link the embedded one to use it.
package logbuf

import (
	"bytes"
	"sync"
)

// Buffer collects what concurrent writers write (log lines from requests, handlers and the
// goroutines they start); its zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String is everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
