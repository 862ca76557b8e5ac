package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/reconcile"
)

var _ reconcile.Store = (*Store)(nil)

// ledgerFields are the parts of a pledge reconciliation reads: a fraction of the document.
var ledgerFields = bson.M{"campaign_id": 1, "status": 1, "amount": 1, "shipping": 1, "payment_intent_id": 1, "charge_id": 1, "amount_refunded": 1,
	"dispute": 1, "transfer_id": 1, "transfer_amount": 1, "stripe_fee": 1, "updated_at": 1}

func ledgerOf(p pledge.Pledge) reconcile.Ledger {
	l := reconcile.Ledger{PledgeID: p.ID, CampaignID: p.CampaignID, Status: p.Status, Amount: p.Amount, Shipping: p.Shipping, PaymentIntentID: p.PaymentIntentID,
		ChargeID: p.ChargeID, Refunded: p.AmountRefunded, TransferID: p.TransferID, TransferAmount: p.TransferAmount,
		StripeFee: p.StripeFee, UpdatedAt: p.UpdatedAt}
	if d := p.Dispute; d != nil {
		l.Dispute = &reconcile.Dispute{ID: d.ID, Status: d.Status, Amount: d.Amount}
	}
	return l
}

// StreamLedger streams the pledges of a run's scope: a campaign's, or those collected in the
// period. No sort is asked for: the embedded store sorts in memory and too slowly for large
// campaigns, so the caller sorts the compact records itself.
func (s *Store) StreamLedger(ctx context.Context, sc reconcile.Scope, fn func(reconcile.Ledger) error) error {
	if s.scanner != nil {
		return s.scanLedger(ctx, sc, fn)
	}
	filter := bson.M{"campaign_id": sc.CampaignID}
	if sc.CampaignID == "" {
		filter = bson.M{"collected_at": bson.M{"$gte": sc.From, "$lt": sc.To}}
	}
	cur, err := s.db.Collection("pledges").Find(ctx, filter, options.Find().SetProjection(ledgerFields).SetBatchSize(1000))
	if err != nil {
		return storeError("read pledges to reconcile: %w", err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var p pledge.Pledge
		if err := cur.Decode(&p); err != nil {
			return storeError("read pledges to reconcile: %w", err)
		}
		if err := fn(ledgerOf(p)); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return storeError("read pledges to reconcile: %w", err)
	}
	return nil
}

// ledgerPaths are the fields scanLedger reads, in the order ledgerRow takes them; "dispute" is
// there to tell a dispute apart from none, "collected_at" to select a period.
var ledgerPaths = []string{"_id", "campaign_id", "status", "amount.amount", "amount.currency", "shipping", "payment_intent_id",
	"charge_id", "amount_refunded", "dispute", "dispute.id", "dispute.status", "dispute.amount", "transfer_id", "transfer_amount",
	"stripe_fee", "updated_at", "collected_at"}

// scanLedger is StreamLedger on the embedded store. A campaign's ledger is read from an index
// of every pledge's ledgerPaths by campaign (ScanEqual: the index is part of each write of a
// pledge, so it is the pledge, and reading it parses no document); a period's, by reading the
// fields of every pledge, its filter applied here as the server applies it: collected_at a date
// in [From, To) (compared in milliseconds, the precision BSON keeps).
func (s *Store) scanLedger(ctx context.Context, sc reconcile.Scope, fn func(reconcile.Ledger) error) error {
	emit := func(v []any) error {
		l, err := ledgerRow(v)
		if err != nil {
			return storeError("read pledges to reconcile: %w", err)
		}
		return fn(l)
	}
	if sc.CampaignID != "" {
		return s.scanner.ScanEqual(ctx, s.db.Name(), "pledges", map[string]string{"campaign_id": sc.CampaignID}, ledgerPaths, emit)
	}
	from, to := sc.From.UnixMilli(), sc.To.UnixMilli()
	return s.scanner.Scan(ctx, s.db.Name(), "pledges", ledgerPaths, func(v []any) error {
		if at, ok := v[17].(int64); !ok || at < from || at >= to {
			return nil
		}
		return emit(v)
	})
}

// indexLedger makes scanLedger's index of the pledges by campaign when the store opens: on a
// new database it is made while the collection is empty, and each write keeps it up to date;
// on a database of an earlier version it is built once here (about 6 s for 100,000 pledges)
// rather than during the first reconciliation.
func (s *Store) indexLedger(ctx context.Context) error {
	if s.scanner == nil {
		return nil
	}
	if err := s.scanner.IndexScanEqual(ctx, s.db.Name(), "pledges", []string{"campaign_id"}, ledgerPaths); err != nil {
		return storeError("index the pledges' ledger: %w", err)
	}
	return nil
}

// ledgerRow turns a row of ledgerPaths into a Ledger. A value of another type than the field
// holds is an error, never a zero: reconciliation must not compare what it could not read.
func ledgerRow(v []any) (reconcile.Ledger, error) {
	r := scanned{v: v}
	l := reconcile.Ledger{PledgeID: r.str(0), CampaignID: r.str(1), Status: pledge.Status(r.str(2)),
		Amount: money.Money{Amount: r.int(3), Currency: r.str(4)}, Shipping: r.int(5), PaymentIntentID: r.str(6),
		ChargeID: r.str(7), Refunded: r.int(8), TransferID: r.str(13), TransferAmount: r.int(14), StripeFee: r.int(15),
		UpdatedAt: r.date(16)}
	if v[9] != nil {
		l.Dispute = &reconcile.Dispute{ID: r.str(10), Status: r.str(11), Amount: r.int(12)}
	}
	return l, r.err
}

// scanned reads the values of one Scanner row, remembering the first that has the wrong type.
type scanned struct {
	v   []any
	err error
}

func (r *scanned) str(i int) string {
	switch x := r.v[i].(type) {
	case nil:
		return ""
	case string:
		return x
	}
	r.wrong(i, "a string")
	return ""
}

func (r *scanned) int(i int) int64 {
	switch x := r.v[i].(type) {
	case nil:
		return 0
	case int64:
		return x
	}
	r.wrong(i, "an integer")
	return 0
}

func (r *scanned) date(i int) time.Time {
	switch x := r.v[i].(type) {
	case nil:
		return time.Time{}
	case int64:
		return time.UnixMilli(x).UTC()
	}
	r.wrong(i, "a date")
	return time.Time{}
}

func (r *scanned) wrong(i int, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("pledge %v: %s is %T, want %s", r.v[0], ledgerPaths[i], r.v[i], want)
	}
}

// FindLedger reads one pledge's reconciliation record.
func (s *Store) FindLedger(ctx context.Context, pledgeID string) (reconcile.Ledger, error) {
	var p pledge.Pledge
	err := s.db.Collection("pledges").FindOne(ctx, bson.M{"_id": pledgeID}, options.FindOne().SetProjection(ledgerFields)).Decode(&p)
	if err != nil {
		return reconcile.Ledger{}, notFound(err, "Pledge")
	}
	return ledgerOf(p), nil
}

// CreateRun stores a queued reconciliation.
func (s *Store) CreateRun(ctx context.Context, r reconcile.Run) error {
	if _, err := s.db.Collection("reconciliations").InsertOne(ctx, r); err != nil {
		return storeError("insert reconciliation: %w", err)
	}
	return nil
}

// FindRun looks a reconciliation up by id.
func (s *Store) FindRun(ctx context.Context, id string) (reconcile.Run, error) {
	var r reconcile.Run
	err := s.db.Collection("reconciliations").FindOne(ctx, bson.M{"_id": id}).Decode(&r)
	return r, notFound(err, "Reconciliation")
}

// ListRuns returns a page of runs, newest first (by creation, then id).
func (s *Store) ListRuns(ctx context.Context, f reconcile.RunFilter) ([]reconcile.Run, error) {
	q := bson.M{}
	if f.Status != "" {
		q["status"] = f.Status
	}
	if f.CampaignID != "" {
		q["scope.campaign_id"] = f.CampaignID
	}
	if f.BeforeID != "" {
		q["$or"] = bson.A{bson.M{"created_at": bson.M{"$lt": f.Before}}, bson.M{"created_at": f.Before, "_id": bson.M{"$lt": f.BeforeID}}}
	}
	cur, err := s.db.Collection("reconciliations").Find(ctx, q,
		options.Find().SetSort(bson.D{{Key: "created_at", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(f.Limit)))
	if err != nil {
		return nil, storeError("list reconciliations: %w", err)
	}
	out := []reconcile.Run{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("list reconciliations: %w", err)
	}
	return out, nil
}

// FindRunsToDo lists runs queued or under way, oldest first.
func (s *Store) FindRunsToDo(ctx context.Context, limit int) ([]reconcile.Run, error) {
	cur, err := s.db.Collection("reconciliations").Find(ctx,
		bson.M{"status": bson.M{"$in": bson.A{reconcile.RunQueued, reconcile.RunRunning}}},
		options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, storeError("find reconciliations to do: %w", err)
	}
	out := []reconcile.Run{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("find reconciliations to do: %w", err)
	}
	return out, nil
}

// ReplaceRun writes next if the run is still as prev was read.
func (s *Store) ReplaceRun(ctx context.Context, prev, next reconcile.Run) (reconcile.Run, error) {
	next.Version = prev.Version + 1
	res, err := s.db.Collection("reconciliations").ReplaceOne(ctx, bson.M{"_id": prev.ID, "version": prev.Version}, next)
	if err != nil {
		return prev, storeError("update reconciliation %s: %w", prev.ID, err)
	}
	if res.MatchedCount == 0 {
		return prev, backstitch.Errorf(backstitch.CodeConflict, "The reconciliation changed meanwhile.")
	}
	return next, nil
}

// ClearRunOutput deletes what earlier attempts of a run wrote.
func (s *Store) ClearRunOutput(ctx context.Context, runID string) error {
	for _, coll := range []string{"reconciliation_findings", "reconciliation_reports"} {
		if _, err := s.db.Collection(coll).DeleteMany(ctx, bson.M{"run_id": runID}); err != nil {
			return storeError("clear %s of %s: %w", coll, runID, err)
		}
	}
	return nil
}

// InsertFindings stores a batch of findings; ids derive from the run, attempt and finding, so
// storing a batch again is harmless.
func (s *Store) InsertFindings(ctx context.Context, fs []reconcile.FindingRecord) error {
	docs := make([]any, len(fs))
	for i, f := range fs {
		docs[i] = f
	}
	_, err := s.db.Collection("reconciliation_findings").InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil && !onlyDuplicates(err) {
		return storeError("insert findings: %w", err)
	}
	return nil
}

func onlyDuplicates(err error) bool {
	var bw mongo.BulkWriteException
	if !errors.As(err, &bw) || bw.WriteConcernError != nil {
		return false
	}
	for _, e := range bw.WriteErrors {
		if e.Code != 11000 {
			return false
		}
	}
	return true
}

// InsertReportChunk stores one piece of a run's CSV report.
func (s *Store) InsertReportChunk(ctx context.Context, c reconcile.ReportChunk) error {
	if _, err := s.db.Collection("reconciliation_reports").InsertOne(ctx, c); err != nil && !mongo.IsDuplicateKeyError(err) {
		return storeError("insert report chunk %s: %w", c.ID, err)
	}
	return nil
}

// StreamReport hands fn the chunks of a run attempt's report, in order.
func (s *Store) StreamReport(ctx context.Context, runID string, attempt int, fn func([]byte) error) error {
	cur, err := s.db.Collection("reconciliation_reports").Find(ctx, bson.M{"run_id": runID, "attempt": attempt},
		options.Find().SetSort(bson.D{{Key: "n", Value: 1}}).SetBatchSize(4))
	if err != nil {
		return storeError("read report of %s: %w", runID, err)
	}
	defer cur.Close(ctx)
	for cur.Next(ctx) {
		var c reconcile.ReportChunk
		if err := cur.Decode(&c); err != nil {
			return storeError("read report of %s: %w", runID, err)
		}
		if err := fn(c.Data); err != nil {
			return err
		}
	}
	return classify(cur.Err())
}

// FindFindings pages through a run's findings in the order they were found.
func (s *Store) FindFindings(ctx context.Context, f reconcile.FindingFilter) ([]reconcile.FindingRecord, error) {
	q := bson.M{"run_id": f.RunID, "attempt": f.Attempt, "seq": bson.M{"$gt": f.AfterSeq}}
	if f.Status != "" {
		q["status"] = f.Status
	}
	if f.Kind != "" {
		q["kind"] = f.Kind
	}
	cur, err := s.db.Collection("reconciliation_findings").Find(ctx, q,
		options.Find().SetSort(bson.D{{Key: "seq", Value: 1}}).SetLimit(int64(f.Limit)))
	if err != nil {
		return nil, storeError("find findings of %s: %w", f.RunID, err)
	}
	out := []reconcile.FindingRecord{}
	if err := cur.All(ctx, &out); err != nil {
		return nil, storeError("find findings of %s: %w", f.RunID, err)
	}
	return out, nil
}

// CountOpenFindings counts a run attempt's findings still open.
func (s *Store) CountOpenFindings(ctx context.Context, runID string, attempt int) (int64, error) {
	n, err := s.db.Collection("reconciliation_findings").CountDocuments(ctx, bson.M{"run_id": runID, "attempt": attempt, "status": reconcile.FindingOpen})
	if err != nil {
		return 0, storeError("count open findings of %s: %w", runID, err)
	}
	return n, nil
}

// FindFinding looks a finding up by id.
func (s *Store) FindFinding(ctx context.Context, id string) (reconcile.FindingRecord, error) {
	var f reconcile.FindingRecord
	err := s.db.Collection("reconciliation_findings").FindOne(ctx, bson.M{"_id": id}).Decode(&f)
	return f, notFound(err, "Finding")
}

// ReplaceFinding writes next if the finding is still as prev was read (so two admins cannot
// resolve one finding twice).
func (s *Store) ReplaceFinding(ctx context.Context, prev, next reconcile.FindingRecord) (reconcile.FindingRecord, error) {
	next.Version = prev.Version + 1
	res, err := s.db.Collection("reconciliation_findings").ReplaceOne(ctx,
		bson.M{"_id": prev.ID, "version": prev.Version, "status": prev.Status}, next)
	if err != nil {
		return prev, storeError("update finding %s: %w", prev.ID, err)
	}
	if res.MatchedCount == 0 {
		return prev, backstitch.Errorf(backstitch.CodeConflict, "The finding changed meanwhile; fetch it again.")
	}
	return next, nil
}

// SaveException remembers an explained discrepancy (the first explanation stays).
func (s *Store) SaveException(ctx context.Context, e reconcile.Exception) error {
	if _, err := s.db.Collection("reconciliation_exceptions").InsertOne(ctx, e); err != nil && !mongo.IsDuplicateKeyError(err) {
		return storeError("save exception: %w", err)
	}
	return nil
}

// FindExceptions returns the explained discrepancies among ids.
func (s *Store) FindExceptions(ctx context.Context, ids []string) (map[string]reconcile.Exception, error) {
	cur, err := s.db.Collection("reconciliation_exceptions").Find(ctx, bson.M{"_id": bson.M{"$in": ids}})
	if err != nil {
		return nil, storeError("find exceptions: %w", err)
	}
	var found []reconcile.Exception
	if err := cur.All(ctx, &found); err != nil {
		return nil, storeError("find exceptions: %w", err)
	}
	out := make(map[string]reconcile.Exception, len(found))
	for _, e := range found {
		out[e.ID] = e
	}
	return out, nil
}
