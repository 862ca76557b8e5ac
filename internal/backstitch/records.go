package backstitch

import "time"

// AuditEntry records one admin action. The audit log is only ever appended to.
type AuditEntry struct {
	ID     string            `bson:"_id" json:"id"`
	At     time.Time         `bson:"at" json:"at"`
	Actor  string            `bson:"actor" json:"actor"`
	Action string            `bson:"action" json:"action"`
	Target string            `bson:"target" json:"target"`
	Before map[string]string `bson:"before,omitempty" json:"before,omitempty"`
	After  map[string]string `bson:"after,omitempty" json:"after,omitempty"`
	Reason string            `bson:"reason,omitempty" json:"reason,omitempty"`
}

// AuditFilter selects a page of the audit log, newest first: entries before (Before, BeforeID)
// when a cursor is given, of one action, target or actor when those are set.
type AuditFilter struct {
	Action, Target, Actor string
	Before                time.Time
	BeforeID              string
	Limit                 int
}

// IdempotencyRecord remembers the first response to a request made with an Idempotency-Key, so a
// client retrying after a timeout gets that response again instead of a second object.
type IdempotencyRecord struct {
	// ID is the key scoped to its caller and route, so two clients may use the same key.
	ID          string `bson:"_id"`
	RequestHash string `bson:"request_hash"`
	// Done, Status, ContentType and Body describe the stored response, once there is one.
	Done        bool      `bson:"-"`
	Status      int       `bson:"-"`
	ContentType string    `bson:"-"`
	Body        []byte    `bson:"-"`
	CreatedAt   time.Time `bson:"created_at"`
	ExpiresAt   time.Time `bson:"expires_at"`
	// LockedUntil bounds how long an unfinished request holds the key. A request that crashed
	// never completes it; after this instant a retry takes the key over and resumes the work.
	LockedUntil time.Time `bson:"locked_until"`
}

// StripeEvent is a webhook event, stored once under its id after it was applied.
type StripeEvent struct {
	ID         string    `bson:"_id"`
	Type       string    `bson:"type"`
	Payload    []byte    `bson:"payload"`
	ReceivedAt time.Time `bson:"received_at"`
}

// Lease is the right to do one piece of work (settling a campaign) for a while, across every
// instance sharing the store. Token grows with every grant: writes made under the lease carry it,
// so a holder that was paused past its expiry and wakes up is refused by what its successor wrote.
type Lease struct {
	Name      string    `bson:"_id"`
	Owner     string    `bson:"owner"`
	Token     int64     `bson:"token"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// HistoryEntry records one state change of a document: who moved it from where to where, and why.
type HistoryEntry[S ~string] struct {
	From   S         `bson:"from" json:"from"`
	To     S         `bson:"to" json:"to"`
	Actor  string    `bson:"actor" json:"actor"`
	Reason string    `bson:"reason,omitempty" json:"reason,omitempty"`
	At     time.Time `bson:"at" json:"at"`
}

// Notice is a message a state change owes someone, recorded on the changed document in the same
// write as the change: a process that dies right after the write leaves it there, and whoever
// finds it (the writer, a retry, the sweeper) hands it to the outbox, where its ID, derived from
// the change (the document, the version the change wrote, the kind), makes a second hand-over
// a no-op. It is removed from the document once the outbox holds it.
type Notice struct {
	ID   string `bson:"id"`
	Kind string `bson:"kind"`
	// Data is what only the change knows (a refund's amount, a decline in plain words), already
	// written for the recipient; the rest is looked up when the message is written.
	Data map[string]string `bson:"data,omitempty"`
}
