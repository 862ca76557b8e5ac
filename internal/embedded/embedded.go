// Package embedded runs a MongoDB-compatible server (FerretDB on SQLite) inside the process, so the
// service and its tests start with no database installed. It is the only package that imports
// FerretDB: a production build that always sets MONGODB_URI could drop it by removing this package.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Server is a running embedded store.
type Server struct {
	uri    string
	cancel context.CancelFunc
	done   chan error
}

// Start opens (or creates) the SQLite files under dir and listens on a random loopback port.
// FerretDB's own logging is discarded: it is loud, and the service logs what matters itself.
func Start(dir string) (*Server, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("embedded store: data folder %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: create data folder %q: %w", abs, err)
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Handler:   "sqlite",
		SQLiteURL: "file:" + filepath.ToSlash(abs) + "/",
	})
	if err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- f.Run(ctx) }()
	s.uri = f.MongoDBURI()
	return s, nil
}

// URI is the connection string for the official driver. Callers must open it with a pool of one
// connection: FerretDB v1 loses concurrent updates of one document otherwise (see docs/DESIGN notes).
func (s *Server) URI() string { return s.uri }

// Close stops the listener and closes the SQLite files.
func (s *Server) Close() error {
	s.cancel()
	if err := <-s.done; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("embedded store: %w", err)
	}
	return nil
}
