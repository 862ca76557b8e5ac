// Package pubcache keeps rendered public responses in memory: the bytes, their content type and
// ETag, under a key naming what was rendered (route, campaign, language, page, ...: everything the
// bytes depend on). A warm hit is a map lookup and a clock read; nothing is loaded, parsed or
// encoded.
//
// Freshness. Each entry carries tags (the campaign ids it shows, "every list"). The instance that
// changes a campaign drops that campaign's tags at once (Invalidate); other instances, which share
// only MongoDB, drop an entry TTL after its data was read. A per-request version check (the
// campaign's counter revision, say) was the alternative: it is one store read per request, the
// very cost the cache exists to avoid (one FerretDB read caps a route at ~1.7k req/s), and a
// campaign's public view also depends on its tiers' documents, so a TTL is both cheaper and
// simpler to get right. Staleness on other instances is bounded by TTL.
//
// Races. Loads are shared: one load per key at a time, every concurrent caller waits for it.
// A load that began before an invalidation of one of its tags returns its bytes to the callers
// that waited for it but does not enter the cache, and callers arriving after the invalidation
// start a load of their own: what a writer wrote is visible to every request that begins after
// the write returned.
//
// Memory is bounded by entry count and total body bytes, least recently used evicted first.
package pubcache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"time"
)

// TagLists is carried by every cached response that shows more than one campaign (lists, the
// home page) and by remembered "not found" answers: any campaign's change may alter them.
const TagLists = "lists"

// Response is a rendered response as the cache keeps it.
type Response struct {
	Body        []byte
	ContentType string
	// ETag is a strong entity tag (quoted) derived from the body.
	ETag string
	// Status is the HTTP status to answer (0 means 200). A remembered 404 (an unknown slug asked
	// for again and again) costs no store read until the TTL or a campaign change drops it.
	Status int
	// Subject is the id of what the response shows (a campaign's), for callers that count per
	// subject on a hit without a read.
	Subject string
}

// NewResponse wraps rendered bytes, deriving the ETag from them: equal bytes, equal tag, on every
// instance, so a client or CDN revalidates across a load balancer.
func NewResponse(contentType string, body []byte) Response {
	sum := sha256.Sum256(body)
	return Response{Body: body, ContentType: contentType, ETag: `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`}
}

// ETagMatches is If-None-Match's weak comparison (RFC 9110 §13.1.2): "*" or any listed tag
// equal to etag once W/ is set aside.
func ETagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		if t = strings.TrimSpace(t); t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// Loader renders a response on a miss and names the tags it depends on. An error is returned to
// the callers and nothing is cached (a 404 for a draft must never be remembered, nor a store
// outage). A loader may run after the request that asked for it has ended (a background
// refresh), with that request's context values but not its deadline: it must hold no memory the
// request's server reuses (Fiber's parameters and query values point into such buffers).
type Loader func(ctx context.Context) (Response, []string, error)

// Options bound the cache.
type Options struct {
	// TTL is how long an entry is served after its data was read.
	TTL time.Duration
	// MaxEntries and MaxBytes bound memory; the least recently used entries go first.
	MaxEntries int
	MaxBytes   int64
	Now        func() time.Time
}

// Cache is safe for concurrent use.
type Cache struct {
	opts Options

	mu      sync.Mutex
	entries map[string]*list.Element // of *entry
	lru     list.List                // front: most recently used
	byTag   map[string]map[*list.Element]struct{}
	size    int64
	// flights are the loads new callers may join, by key; an invalidation detaches them all.
	flights map[string]*flight
	// active are the loads still running, joinable or not.
	active map[*flight]struct{}
	// seq counts invalidations; invalidated holds, per tag, the seq of its last invalidation
	// while a load that began earlier may still finish (see Invalidate).
	seq         uint64
	invalidated map[string]uint64
}

type entry struct {
	key  string
	resp Response
	tags []string
	// refreshAt and expires count from when the load began, before it read anything.
	refreshAt, expires time.Time
}

type flight struct {
	done    chan struct{}
	resp    Response
	err     error
	seq     uint64
	started time.Time
}

// New makes an empty cache.
func New(o Options) *Cache {
	return &Cache{opts: o, entries: map[string]*list.Element{}, byTag: map[string]map[*list.Element]struct{}{},
		flights: map[string]*flight{}, active: map[*flight]struct{}{}, invalidated: map[string]uint64{}}
}

// Get returns the response under key, loading it on a miss (one load per key at a time). An
// entry read in the last quarter of its TTL is served as it is while one load refreshes it in
// the background, so a busy key never makes its readers wait for the store.
func (c *Cache) Get(ctx context.Context, key string, load Loader) (Response, error) {
	c.mu.Lock()
	now := c.opts.Now()
	if el, ok := c.entries[key]; ok {
		e := el.Value.(*entry)
		if now.Before(e.expires) {
			c.lru.MoveToFront(el)
			if !now.Before(e.refreshAt) && c.flights[key] == nil {
				f := c.begin(key, now)
				go c.refresh(context.WithoutCancel(ctx), key, f, load)
			}
			c.mu.Unlock()
			return e.resp, nil
		}
		c.remove(el)
	}
	if f, ok := c.flights[key]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.resp, f.err
		case <-ctx.Done():
			return Response{}, ctx.Err()
		}
	}
	f := c.begin(key, now)
	c.mu.Unlock()
	return c.run(ctx, key, f, load)
}

// Fresh returns the response under key if one is held and not yet due for a refresh: a hit that
// needs no loader. A warm read then allocates nothing here, neither its key (looked up from
// bytes) nor a loader closure; on false the caller builds both and calls Get, which also serves
// an entry in its refresh window while it starts the refresh.
func (c *Cache) Fresh(key []byte) (Response, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[string(key)]
	if !ok {
		return Response{}, false
	}
	e := el.Value.(*entry)
	if !c.opts.Now().Before(e.refreshAt) {
		return Response{}, false
	}
	c.lru.MoveToFront(el)
	return e.resp, true
}

// begin registers a load of key; c.mu is held.
func (c *Cache) begin(key string, now time.Time) *flight {
	f := &flight{done: make(chan struct{}), seq: c.seq, started: now}
	c.flights[key] = f
	c.active[f] = struct{}{}
	return f
}

// refreshTimeout bounds a background refresh, which no request waits for.
const refreshTimeout = 30 * time.Second

func (c *Cache) refresh(ctx context.Context, key string, f *flight, load Loader) {
	// A render that fails or panics here fails again in the foreground once the entry expires,
	// where the request reports it.
	defer func() { _ = recover() }()
	ctx, cancel := context.WithTimeout(ctx, refreshTimeout)
	defer cancel()
	_, _ = c.run(ctx, key, f, load)
}

// run carries out the load f stands for and keeps its result unless an invalidation of one of
// its tags came after it began.
func (c *Cache) run(ctx context.Context, key string, f *flight, load Loader) (Response, error) {
	var tags []string
	defer func() {
		// Also on a panic in load: waiters are released and the key is loadable again.
		c.mu.Lock()
		if c.flights[key] == f {
			delete(c.flights, key)
		}
		delete(c.active, f)
		if f.err == nil && f.resp.Body != nil && !c.invalidatedSince(tags, f.seq) {
			c.put(key, f.resp, tags, f.started)
		}
		c.forgetInvalidations()
		c.mu.Unlock()
		close(f.done)
	}()
	f.err = errLoadPanicked
	f.resp, tags, f.err = load(ctx)
	return f.resp, f.err
}

// errLoadPanicked is what callers waiting on a load that panicked get.
var errLoadPanicked = errors.New("pubcache: load panicked")

// Invalidate drops every entry carrying one of tags, and makes sure no load already under way
// brings the old state back.
func (c *Cache) Invalidate(tags ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	// Which keys a running load will tag is unknown until it ends (a slug's campaign id, say), so
	// every running load is detached: callers from now on start their own.
	clear(c.flights)
	for _, tag := range tags {
		if len(c.active) > 0 {
			c.invalidated[tag] = c.seq
		}
		for el := range c.byTag[tag] {
			c.remove(el)
		}
	}
}

// Len is the number of entries held.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *Cache) invalidatedSince(tags []string, seq uint64) bool {
	for _, tag := range tags {
		if c.invalidated[tag] > seq {
			return true
		}
	}
	return false
}

// forgetInvalidations drops the records no running load can need: those older than the oldest
// running load.
func (c *Cache) forgetInvalidations() {
	if len(c.active) == 0 {
		clear(c.invalidated)
		return
	}
	if len(c.invalidated) < 256 {
		return
	}
	oldest := c.seq
	for f := range c.active {
		oldest = min(oldest, f.seq)
	}
	for tag, seq := range c.invalidated {
		if seq <= oldest {
			delete(c.invalidated, tag)
		}
	}
}

func (c *Cache) put(key string, r Response, tags []string, loaded time.Time) {
	if int64(len(r.Body)) > c.opts.MaxBytes {
		return
	}
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
	el := c.lru.PushFront(&entry{key: key, resp: r, tags: tags, refreshAt: loaded.Add(c.opts.TTL * 3 / 4), expires: loaded.Add(c.opts.TTL)})
	c.entries[key] = el
	c.size += int64(len(r.Body))
	for _, tag := range tags {
		set := c.byTag[tag]
		if set == nil {
			set = map[*list.Element]struct{}{}
			c.byTag[tag] = set
		}
		set[el] = struct{}{}
	}
	for len(c.entries) > c.opts.MaxEntries || c.size > c.opts.MaxBytes {
		c.remove(c.lru.Back())
	}
}

func (c *Cache) remove(el *list.Element) {
	e := el.Value.(*entry)
	c.lru.Remove(el)
	delete(c.entries, e.key)
	c.size -= int64(len(e.resp.Body))
	for _, tag := range e.tags {
		if set := c.byTag[tag]; set != nil {
			delete(set, el)
			if len(set) == 0 {
				delete(c.byTag, tag)
			}
		}
	}
}
