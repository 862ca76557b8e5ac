package testenv

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/backstitch/backstitch/internal/mongostore"
)

// Command is one command a store client sent, as the Proxy sees it: its name (find, update,
// findAndModify, insert, …) and the collection it names.
type Command struct {
	Name, Collection string
}

// Fault is what the Proxy does to a command it was told to break.
type Fault int

const (
	// DropRequest closes the connection before the command reaches the store: nothing happens.
	DropRequest Fault = iota + 1
	// DropReply lets the command reach the store and closes the connection before its reply
	// reaches the client: the command is carried out, and the client cannot know it.
	DropReply
)

// Proxy stands between the service and the store on a loopback port and fails on request as a
// MongoDB replica set does to a client during an election: connections dropped in the middle of
// a command (before or after the primary applied it), and a while in which no server answers.
type Proxy struct {
	ln    net.Listener
	dial  func() (net.Conn, error)
	mu    sync.Mutex
	conns map[net.Conn]bool
	down  bool
	// paused: messages are swallowed both ways; stalled lists the connections that lost one.
	paused  bool
	stalled map[net.Conn]bool
	faults  []armedFault
	seen    []Command
}

type armedFault struct {
	match func(Command) bool
	fault Fault
}

// MustProxy starts a Proxy in front of the store opts reaches and returns it and opts pointed at
// it. It skips the test on a real MongoDB (MONGODB_URI), whose replica-set members the driver
// finds by name, past any proxy.
func MustProxy(tb testing.TB, opts mongostore.Options) (*Proxy, mongostore.Options) {
	tb.Helper()
	if os.Getenv("MONGODB_URI") != "" {
		tb.Skip("the fault-injecting proxy stands in front of the embedded store only")
	}
	// The embedded store's URI names a Unix socket, percent-escaped, which net/url refuses as a
	// host: mongodb://%2Fpath%2Fto.sock/?options.
	rest, ok := strings.CutPrefix(opts.URI, "mongodb://")
	if !ok {
		tb.Fatalf("store URI %q: want mongodb://", opts.URI)
	}
	host, tail := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		host, tail = rest[:i], rest[i:]
	}
	target, network := host, "tcp"
	if h, err := url.PathUnescape(host); err == nil && strings.HasPrefix(h, "/") {
		target, network = h, "unix"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{ln: ln, conns: map[net.Conn]bool{}, stalled: map[net.Conn]bool{},
		dial: func() (net.Conn, error) { return net.Dial(network, target) }}
	opts.URI = "mongodb://" + ln.Addr().String() + tail
	go p.accept()
	tb.Cleanup(func() {
		_ = ln.Close()
		p.closeAll()
	})
	return p, opts
}

// Fail makes the next command that match accepts fail with fault (once).
func (p *Proxy) Fail(match func(Command) bool, fault Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, armedFault{match, fault})
}

// Pending reports how many faults armed with Fail have not struck yet.
func (p *Proxy) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.faults)
}

// Down drops every open connection and refuses new ones until Up: no server is reachable.
func (p *Proxy) Down() {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
	p.closeAll()
}

// Up lets connections through again.
func (p *Proxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// Pause makes the store stop answering without closing anything, as a primary that hangs (a full
// disk, a stalled host) or a network partition does: connections are still accepted, but every
// command and every reply in flight is swallowed, so clients wait until their own timeouts.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
}

// Resume ends a Pause. Connections that lost a message while paused are closed (their client is
// still waiting for a reply that will never come, as after a partition), the others carry on.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = false
	for c := range p.stalled {
		_ = c.Close()
	}
	clear(p.stalled)
}

// swallowed reports whether a message on conn must be dropped because the proxy is paused, and
// remembers conn as stalled if so.
func (p *Proxy) swallowed(conn net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		p.stalled[conn] = true
	}
	return p.paused
}

// Seen lists the commands that went through, in order.
func (p *Proxy) Seen() []Command {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Command(nil), p.seen...)
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		server, err := p.dial()
		if err != nil {
			_ = client.Close()
			continue
		}
		if !p.track(client, server) {
			_ = client.Close()
			_ = server.Close()
			continue
		}
		go p.relay(client, server)
	}
}

// relay copies one connection's messages both ways, one wire-protocol message at a time, so a
// fault strikes a whole command or its whole reply.
func (p *Proxy) relay(client, server net.Conn) {
	closeBoth := func() { _ = client.Close(); _ = server.Close() }
	defer closeBoth()
	var dropMu sync.Mutex
	dropNextReply := false
	go func() {
		defer closeBoth()
		for {
			msg, err := readMessage(server)
			if err != nil {
				return
			}
			dropMu.Lock()
			drop := dropNextReply
			dropMu.Unlock()
			if drop {
				return
			}
			if p.swallowed(client) {
				continue
			}
			if _, err := client.Write(msg); err != nil {
				return
			}
		}
	}()
	for {
		msg, err := readMessage(client)
		if err != nil {
			return
		}
		if p.swallowed(client) {
			continue
		}
		switch p.strike(commandOf(msg)) {
		case DropRequest:
			return
		case DropReply:
			dropMu.Lock()
			dropNextReply = true
			dropMu.Unlock()
		}
		if _, err := server.Write(msg); err != nil {
			return
		}
	}
}

// strike records cmd and returns the fault armed for it, if any, disarming it.
func (p *Proxy) strike(cmd Command) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cmd.Name != "" {
		p.seen = append(p.seen, cmd)
	}
	for i, f := range p.faults {
		if f.match(cmd) {
			p.faults = append(p.faults[:i], p.faults[i+1:]...)
			return f.fault
		}
	}
	return 0
}

// readMessage reads one wire-protocol message: a little-endian int32 length that counts itself.
func readMessage(r io.Reader) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(head[:]))
	if n < 16 || n > 48<<20 {
		return nil, errors.New("proxy: bad message length")
	}
	msg := make([]byte, n)
	copy(msg, head[:])
	_, err := io.ReadFull(r, msg[4:])
	return msg, err
}

// commandOf reads the command of an OP_MSG (opcode 2013): its body section's first element is
// the command name, whose value is the collection.
func commandOf(msg []byte) Command {
	const opMsg, bodyStart = 2013, 16 + 4 + 1
	if len(msg) < bodyStart+5 || binary.LittleEndian.Uint32(msg[12:16]) != opMsg || msg[20] != 0 {
		return Command{}
	}
	doc := bson.Raw(msg[bodyStart:])
	elems, err := doc.Elements()
	if err != nil || len(elems) == 0 {
		return Command{}
	}
	coll, _ := elems[0].Value().StringValueOK()
	return Command{Name: elems[0].Key(), Collection: coll}
}
