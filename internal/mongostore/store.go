// Package mongostore keeps Backstitch's data in MongoDB (or the embedded FerretDB, which speaks the
// same protocol). Every state change is one conditional update of one document: FerretDB has no
// multi-document transactions, and single-document compare-and-set is what MongoDB guarantees best.
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/event"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/gridfs"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readpref"
	"go.mongodb.org/mongo-driver/mongo/writeconcern"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// Store is the MongoDB adapter.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	locks  Locker
	// scanner, when set, reads the reconciliation ledger (see Options.Scanner).
	scanner Scanner
	writer  Writer
	// serverExpires is true on a server with TTL indexes (MongoDB): it deletes expired sessions,
	// idempotency records and rate-limit windows itself. FerretDB v1 has none, so the service's
	// sweeper does (PurgeExpired).
	serverExpires bool
	// constraintsOnly: create only unique indexes (see Options.ConstraintIndexesOnly).
	constraintsOnly bool
	// imageReads serves image downloads (see newImageBucket).
	imageReads *gridfs.Bucket
	// slugs are the campaign ids slugs resolved to (FindCampaignBySlug).
	slugs slugIDs
}

// Locker serialises compare-and-set writes to one document (see Options.Locks).
type Locker interface {
	Lock(key string) (unlock func())
}

// Scanner reads the embedded store's files directly, for the reads FerretDB can only answer by
// parsing every document of a collection.
type Scanner interface {
	// Scan reads a few fields of every document of a collection at once (embedded.Server.Scan):
	// values in the order of paths, int64 for integers and dates (epoch milliseconds), float64,
	// string, or nil for a missing field; objects decoded.
	Scan(ctx context.Context, database, collection string, paths []string, fn func([]any) error) error
	// DueIDs lists the _id of at most limit documents whose date at path is at or before
	// before, among those whose fields in equal hold those strings, from an index
	// (embedded.Server.DueIDs).
	DueIDs(ctx context.Context, database, collection string, equal map[string]string, path string, before time.Time, limit int) ([]string, error)
	// PageIDs lists, in _id order, the string _id of at most limit documents after `after` whose
	// field at path holds one of values, among those whose fields in equal hold those strings,
	// from an index (embedded.Server.PageIDs).
	PageIDs(ctx context.Context, database, collection string, equal map[string]string, path string, values []string, after string, limit int) ([]string, error)
	// ScanIDs is Scan of the documents with these _id only, from an index (embedded.Server.ScanIDs).
	ScanIDs(ctx context.Context, database, collection string, ids []string, paths []string, fn func([]any) error) error
	// ScanEqual is Scan of the documents whose fields in equal hold those strings, read from an
	// index that the store's own writes keep equal to the documents (embedded.Server.ScanEqual);
	// IndexScanEqual makes that index ahead of the first read.
	ScanEqual(ctx context.Context, database, collection string, equal map[string]string, paths []string, fn func([]any) error) error
	IndexScanEqual(ctx context.Context, database, collection string, equal, paths []string) error
	// ScanDocs reads the whole documents with these _id, as FerretDB answers them, in one read
	// from an index (embedded.Server.ScanDocs).
	ScanDocs(ctx context.Context, database, collection string, ids []string, fn func(bson.Raw) error) error
}

// Writer replaces whole documents by _id in one transaction per batch, each batch all or
// nothing (see Options.Writer).
type Writer interface {
	ReplaceDocs(ctx context.Context, database, collection string, docs []bson.Raw) error
}

// Options says how to connect.
type Options struct {
	URI      string
	Database string
	// SingleConnection limits the driver pool to one connection. The embedded FerretDB loses
	// concurrent updates to one document otherwise (measured: 14 of 500 $inc applied).
	SingleConnection bool
	// MaxPoolSize bounds the driver's connections (0: the driver's default).
	MaxPoolSize int
	// Locks, when set, turns the hot compare-and-set writes (pledges) into read by _id, compare,
	// write by _id under a per-document lock. Only for a store that one process owns: the
	// embedded FerretDB, which scans a whole collection for any filter but a bare _id. With a
	// Scanner too, the read is of the compared fields only, straight from the store's files
	// (see pledgeStamps).
	Locks Locker
	// Scanner, when set, serves the bulk read of reconciliation (StreamLedger): FerretDB parses
	// every whole document into its own types before it projects, which took 8 times the CPU
	// of reading the few fields from its SQLite files (bench/reconcile). It also finds the
	// pledges the sweeper and dunning look for every few seconds (see findDue). Only for the
	// embedded store.
	Scanner Scanner
	// Writer, when set with Locks, takes the writes those compare-and-sets make to pledges, straight
	// to the store's files: FerretDB runs each as a command and a transaction of its own, one at a
	// time, while the Writer commits the writes of every caller waiting in one transaction
	// (embedded.Server.ReplaceDocs; bench/settle: the two writes of each charge were nearly all its
	// store time). Only for the embedded store.
	Writer Writer
	// ConstraintIndexesOnly creates only the unique indexes, which enforce rules, and drops the
	// indexes that serve queries where they exist. Only for the embedded FerretDB: its SQLite
	// backend filters on nothing but a bare _id (every other filter is applied after a scan),
	// so no query uses them, while every write of a document recomputes each of them, as each is
	// an expression over the one JSON column a write replaces. Measured by bench/indexcost: an
	// UPDATE of a pledge took 0.62-0.66 ms of CPU with the pledges' nine query indexes and
	// 0.36-0.39 ms without.
	ConstraintIndexesOnly bool
	// Monitor sees every command sent; tests use it to check each query has an index.
	Monitor *event.CommandMonitor
	// ServerSelectionTimeout is how long an operation waits for a primary before it fails as
	// unavailable (0: 5 s, longer than a typical election). Tests that take the store away shorten it.
	ServerSelectionTimeout time.Duration
}

// clientOptions are the driver settings of every connection. Majority write concern, retryable
// writes and retryable reads are set here, after the URI, so a connection string cannot turn
// them off: a write acknowledged by a primary alone can be rolled back when it steps down (a
// pledge state or a lease grant lost after we acted on it), and a retryable write is the
// server's own guarantee that the driver's one retry after a step-down is applied once.
func clientOptions(o Options) *options.ClientOptions {
	selection := o.ServerSelectionTimeout
	if selection == 0 {
		selection = 5 * time.Second
	}
	opts := options.Client().ApplyURI(o.URI).
		SetTimeout(10 * time.Second).
		SetServerSelectionTimeout(selection).
		SetWriteConcern(writeconcern.Majority()).
		SetRetryWrites(true).
		SetRetryReads(true)
	if o.MaxPoolSize > 0 {
		opts.SetMaxPoolSize(uint64(o.MaxPoolSize))
	}
	if o.SingleConnection {
		opts.SetMaxPoolSize(1).SetMinPoolSize(1)
	}
	if o.Monitor != nil {
		opts.SetMonitor(o.Monitor)
	}
	return opts
}

// Open connects, checks the server answers and makes sure the indexes exist.
func Open(ctx context.Context, o Options) (*Store, error) {
	opts := clientOptions(o)
	client, err := mongo.Connect(ctx, opts)
	if err != nil {
		return nil, storeError("connect to MongoDB: %w", err)
	}
	s := &Store{client: client, db: client.Database(o.Database), locks: o.Locks, scanner: o.Scanner, writer: o.Writer, constraintsOnly: o.ConstraintIndexesOnly}
	s.imageReads = s.newImageBucket()
	if err := s.Ping(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	if s.serverExpires, err = s.hasTTLIndexes(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := s.ensureIndexes(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := s.indexLedger(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := s.ensureAdminRoster(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

// Ping checks the store answers; /readyz uses it.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return storeError("ping MongoDB: %w", err)
	}
	return nil
}

// Close disconnects.
func (s *Store) Close(ctx context.Context) error {
	return s.client.Disconnect(ctx)
}

// Drop deletes the whole database. Tests use it to leave nothing behind.
func (s *Store) Drop(ctx context.Context) error {
	return s.db.Drop(ctx)
}

// hasTTLIndexes asks the server what it is: FerretDB names itself in buildInfo (ferretdbVersion)
// and refuses expireAfterSeconds as not implemented; MongoDB has had TTL indexes since 2.2.
func (s *Store) hasTTLIndexes(ctx context.Context) (bool, error) {
	var info bson.M
	if err := s.client.Database("admin").RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err != nil {
		return false, storeError("ask the server for its build: %w", err)
	}
	_, ferret := info["ferretdbVersion"]
	return !ferret, nil
}

// ServerExpires reports whether the server deletes expired records through TTL indexes (MongoDB)
// rather than the service's sweeper (the embedded FerretDB).
func (s *Store) ServerExpires() bool { return s.serverExpires }

// expiring are the collections whose documents die at expires_at: deleted by a TTL index where
// the server has them, else by PurgeExpired. Leases are not among them: a lease document lives
// on after it expires, because its fencing token must keep growing across grants.
var expiring = []string{"sessions", "rate_limits", "idempotency_keys", "idempotency_responses", "password_resets", "admin_invites"}

// indexes are the indexes each collection needs, beside _id: one for every query the store makes
// (each find, update, delete and count filter, and each sort), so that on MongoDB no request
// scans a collection that grows. testenv checks every query the tests make against this list.
// With ttl, the expires_at index of each expiring collection is a TTL index (expireAfterSeconds 0:
// a document goes when its expires_at passes; MongoDB's TTL monitor runs once a minute, and
// every read checks expires_at itself, so a late deletion changes nothing).
func indexes(ttl bool) map[string][]mongo.IndexModel {
	unique := func() *options.IndexOptions { return options.Index().SetUnique(true) }
	all := map[string][]mongo.IndexModel{
		"users": {
			{Keys: bson.D{{Key: "email", Value: 1}}, Options: unique()},
			// Connect's account.updated webhook finds its designer by account (not unique: users
			// without an account all lack it, and only a partial index could skip them).
			{Keys: bson.D{{Key: "stripe_account_id", Value: 1}}},
			// The admins' list of admins (ListAdmins), and the scheduled messages that find every
			// admin (by role).
			{Keys: bson.D{{Key: "role", Value: 1}, {Key: "created_at", Value: 1}}},
		},
		"admin_invites":   {{Keys: bson.D{{Key: "expires_at", Value: 1}}}},
		"sessions":        {{Keys: bson.D{{Key: "expires_at", Value: 1}}}, {Keys: bson.D{{Key: "user_id", Value: 1}}}},
		"password_resets": {{Keys: bson.D{{Key: "expires_at", Value: 1}}}},
		// campaigns: (status, settlement.swept_at) is the settler's tick asking for failed and
		// flexible campaigns not yet swept; (status, launched_at) would read every failed one ever.
		"campaigns":             {{Keys: bson.D{{Key: "slug", Value: 1}}, Options: unique()}, {Keys: bson.D{{Key: "status", Value: 1}, {Key: "launched_at", Value: -1}, {Key: "_id", Value: -1}}}, {Keys: bson.D{{Key: "designer_id", Value: 1}, {Key: "created_at", Value: -1}}}, {Keys: bson.D{{Key: "owed_since", Value: 1}}}, {Keys: bson.D{{Key: "status", Value: 1}, {Key: "settlement.swept_at", Value: 1}}}},
		"tiers":                 {{Keys: bson.D{{Key: "campaign_id", Value: 1}, {Key: "position", Value: 1}}}},
		"rate_limits":           {{Keys: bson.D{{Key: "expires_at", Value: 1}}}},
		"idempotency_keys":      {{Keys: bson.D{{Key: "expires_at", Value: 1}}}},
		"idempotency_responses": {{Keys: bson.D{{Key: "expires_at", Value: 1}}}},
		// The audit log pages newest first (at, _id), whole or filtered by one action, target or
		// actor: each filter has its index in that order, so no page scans the log on MongoDB.
		"audit_log": {
			{Keys: bson.D{{Key: "at", Value: -1}, {Key: "_id", Value: -1}}},
			{Keys: bson.D{{Key: "action", Value: 1}, {Key: "at", Value: -1}, {Key: "_id", Value: -1}}},
			{Keys: bson.D{{Key: "target", Value: 1}, {Key: "at", Value: -1}, {Key: "_id", Value: -1}}},
			{Keys: bson.D{{Key: "actor", Value: 1}, {Key: "at", Value: -1}, {Key: "_id", Value: -1}}},
		},
		"pledges": {
			{Keys: bson.D{{Key: "campaign_id", Value: 1}, {Key: "status", Value: 1}}},
			{Keys: bson.D{{Key: "status", Value: 1}, {Key: "hold_expires_at", Value: 1}}},
			{Keys: bson.D{{Key: "setup_intent_id", Value: 1}}},
			{Keys: bson.D{{Key: "payment_intent_id", Value: 1}}},
			{Keys: bson.D{{Key: "collected_at", Value: 1}}},
			// The sweeper's second question, counters owed by an interrupted transition: without
			// it every sweep of every instance reads all pledges on MongoDB.
			{Keys: bson.D{{Key: "pending.since", Value: 1}}},
			// The sweeper's search for messages a dead change still owes.
			{Keys: bson.D{{Key: "owed_since", Value: 1}}},
			// The admins' search by backer's email (SearchPledges), and a backer asking for her
			// pledges by email (/pledges/recover), newest first: one index serves both.
			{Keys: bson.D{{Key: "backer.email", Value: 1}, {Key: "created_at", Value: -1}}},
			// The admins' search by Stripe charge (SearchPledges).
			{Keys: bson.D{{Key: "charge_id", Value: 1}}},
		},
		// A campaign's updates, newest first; and the fan-out's claim of an update not all sent.
		"updates": {
			{Keys: bson.D{{Key: "campaign_id", Value: 1}, {Key: "created_at", Value: -1}}},
			{Keys: bson.D{{Key: "fanout.done", Value: 1}, {Key: "fanout.claim_until", Value: 1}}},
		},
		"unsubscriptions": {{Keys: bson.D{{Key: "campaign_id", Value: 1}}}},
		"reconciliations": {
			{Keys: bson.D{{Key: "status", Value: 1}, {Key: "created_at", Value: 1}}},
			{Keys: bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}},
			{Keys: bson.D{{Key: "scope.campaign_id", Value: 1}, {Key: "created_at", Value: -1}}},
		},
		"reconciliation_findings": {{Keys: bson.D{{Key: "run_id", Value: 1}, {Key: "attempt", Value: 1}, {Key: "seq", Value: 1}}}},
		"reconciliation_reports":  {{Keys: bson.D{{Key: "run_id", Value: 1}, {Key: "attempt", Value: 1}, {Key: "n", Value: 1}}}},
		"stripe_events":           {{Keys: bson.D{{Key: "received_at", Value: -1}}}},
		"leases":                  {{Keys: bson.D{{Key: "expires_at", Value: 1}}}},
		"visits":                  {{Keys: bson.D{{Key: "campaign_id", Value: 1}, {Key: "day", Value: 1}}}},
		// No index beside _id, but listed so that it exists from the start: every pledge reads
		// its campaign's gate by _id, and the embedded store's _id index goes only on
		// collections that exist when it is made (see ensureIndexes).
		"campaign_gates": {},
		// GridFS's own indexes, as the driver would create them on the first upload.
		imageBucket + ".files":  {{Keys: bson.D{{Key: "filename", Value: 1}, {Key: "uploadDate", Value: 1}}}},
		imageBucket + ".chunks": {{Keys: bson.D{{Key: "files_id", Value: 1}, {Key: "n", Value: 1}}, Options: unique()}},
		// The relay's claim (status, due_at) and the dev mailbox's list (created_at).
		"outbox": {{Keys: bson.D{{Key: "status", Value: 1}, {Key: "due_at", Value: 1}}}, {Keys: bson.D{{Key: "created_at", Value: -1}}}},
	}
	if ttl {
		for _, coll := range expiring {
			for i, m := range all[coll] {
				if m.Keys.(bson.D)[0].Key == "expires_at" {
					all[coll][i].Options = options.Index().SetExpireAfterSeconds(0)
				}
			}
		}
	}
	return all
}

// IndexedFields lists, by collection, the first field of each index (and _id): a query whose
// filter or, with an empty filter, whose sort begins with one of them can use an index.
func IndexedFields() map[string][]string {
	out := map[string][]string{}
	for coll, models := range indexes(false) {
		out[coll] = append(out[coll], "_id")
		for _, m := range models {
			out[coll] = append(out[coll], m.Keys.(bson.D)[0].Key)
		}
	}
	return out
}

// ensureIndexes creates the indexes that do not exist yet. It asks first rather than relying on
// createIndexes being a no-op for existing indexes: FerretDB v1.24 (SQLite) answers a repeated
// createIndexes after a restart with a spurious IndexOptionsConflict naming another collection's index.
func (s *Store) ensureIndexes(ctx context.Context) error {
	for coll, models := range indexes(s.serverExpires) {
		c := s.db.Collection(coll)
		specs, err := c.Indexes().ListSpecifications(ctx)
		if err != nil {
			return storeError("list indexes of %s: %w", coll, err)
		}
		existing := map[string]bool{}
		for _, spec := range specs {
			existing[spec.Name] = true
		}
		var missing []mongo.IndexModel
		for _, m := range models {
			name := indexName(m.Keys.(bson.D))
			if s.constraintsOnly && !isUnique(m) {
				// One made before (by an older version, or opened without the option) would
				// still cost every write.
				if existing[name] {
					if _, err := c.Indexes().DropOne(ctx, name); err != nil {
						return storeError("drop index %s of %s: %w", name, coll, err)
					}
				}
				continue
			}
			if m.Options == nil {
				m.Options = options.Index()
			}
			m.Options.SetName(name)
			if !existing[name] {
				missing = append(missing, m)
			}
		}
		if len(specs) == 0 && len(missing) == 0 {
			// Creating its indexes is what made a collection, and the embedded store's _id
			// index (embedded.IndexIDs) goes only on the collections that exist when it runs:
			// without one, every read and write of this collection by _id would scan it.
			if err := s.db.CreateCollection(ctx, coll); err != nil && !isNamespaceExists(err) {
				return storeError("create collection %s: %w", coll, err)
			}
		}
		if len(missing) == 0 {
			continue
		}
		if _, err := c.Indexes().CreateMany(ctx, missing); err != nil {
			return storeError("create indexes on %s: %w", coll, err)
		}
	}
	return nil
}

// isUnique reports whether an index enforces a rule (a unique key) rather than serving queries.
func isUnique(m mongo.IndexModel) bool {
	return m.Options != nil && m.Options.Unique != nil && *m.Options.Unique
}

// isNamespaceExists is MongoDB's answer to creating a collection that exists (code 48).
func isNamespaceExists(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == 48
}

// indexName is MongoDB's default index name for keys: "status_1_launched_at_-1".
func indexName(keys bson.D) string {
	parts := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		parts = append(parts, k.Key, fmt.Sprint(k.Value))
	}
	return strings.Join(parts, "_")
}

// notFound turns the driver's "no document" into the domain's not_found, and a transient
// failure into unavailable.
func notFound(err error, what string) error {
	if errors.Is(err, mongo.ErrNoDocuments) {
		return backstitch.Errorf(backstitch.CodeNotFound, "%s not found.", what)
	}
	return classify(err)
}

// PurgeExpired deletes expired sessions, rate-limit windows, idempotency keys and password reset
// links on a server
// without TTL indexes (FerretDB); on MongoDB the TTL indexes do it and this does nothing, so
// instances do not all race the server to delete the same documents.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	if s.serverExpires {
		return 0, nil
	}
	if s.scanner != nil {
		return s.purgeExpiredByIndex(ctx, now)
	}
	var total int64
	for _, coll := range expiring {
		res, err := s.db.Collection(coll).DeleteMany(ctx, bson.M{"expires_at": bson.M{"$lte": now}})
		if err != nil {
			return total, storeError("purge expired %s: %w", coll, err)
		}
		total += res.DeletedCount
	}
	return total, nil
}
