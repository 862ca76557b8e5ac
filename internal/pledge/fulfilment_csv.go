package pledge

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
)

// MaxImportRows bounds a shipments file: a campaign's backers fit many times over, and a file
// beyond it is a mistake or an attack on the memory the whole file is checked in.
const MaxImportRows = 20_000

// ImportChange is one pledge whose fulfilment a row changes.
type ImportChange struct {
	Line     int        `json:"line"`
	PledgeID string     `json:"pledge_id"`
	From     Fulfilment `json:"from"`
	To       Fulfilment `json:"to"`
	change   FulfilmentChange
}

// ImportError is a row that cannot be applied, and why.
type ImportError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// ImportReport is what a shipments file does (dry run) or did.
type ImportReport struct {
	DryRun    bool           `json:"dry_run"`
	Rows      int            `json:"rows"`
	Changes   []ImportChange `json:"changes"`
	Unchanged int            `json:"unchanged"`
	Errors    []ImportError  `json:"errors"`
	Applied   int            `json:"applied"`
}

// importColumns are the columns a shipments file may have; pledge_id or email says whose parcel.
var importColumns = []string{"pledge_id", "email", "status", "carrier", "tracking_number", "tracking_url"}

// ImportShipments reads a CSV of shipments for campaign camp (already checked to be the
// caller's): a header naming its columns, then one row per pledge. Every row is checked before
// anything is written; a file with any bad row changes nothing (the report lists every bad row
// with its line). A dry run only reports. Rows that match what is recorded change nothing, so
// importing a file twice applies it once.
func (s *Service) ImportShipments(ctx context.Context, camp campaign.Campaign, body []byte, dryRun bool, actor string) (ImportReport, error) {
	rep := ImportReport{DryRun: dryRun, Changes: []ImportChange{}, Errors: []ImportError{}}
	fail := func(line int, format string, args ...any) {
		rep.Errors = append(rep.Errors, ImportError{Line: line, Reason: fmt.Sprintf(format, args...)})
	}
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")) // spreadsheets save UTF-8 with a BOM
	if !utf8.Valid(body) {
		line := 1 + bytes.Count(body[:firstInvalidUTF8(body)], []byte("\n"))
		fail(line, "the file is not UTF-8 text (save it as CSV UTF-8)")
		return rep, s.importRefused(rep)
	}
	rows, err := readImport(body, fail)
	if err != nil || len(rep.Errors) > 0 {
		if err != nil {
			return rep, err
		}
		return rep, s.importRefused(rep)
	}
	rep.Rows = len(rows)
	byID, byEmail, kinds, err := s.campaignPledges(ctx, camp)
	if err != nil {
		return rep, err
	}
	seen := map[string]int{}
	for _, r := range rows {
		p, reason := r.pledge(byID, byEmail)
		if reason != "" {
			fail(r.line, "%s", reason)
			continue
		}
		if first, dup := seen[p.ID]; dup {
			fail(r.line, "pledge %s is already on line %d", p.ID, first)
			continue
		}
		seen[p.ID] = r.line
		next, changed, err := s.withFulfilment(p, kinds[p.TierID], r.change, actor)
		if err != nil {
			fail(r.line, "%s", reasonOf(err))
			continue
		}
		if !changed {
			rep.Unchanged++
			continue
		}
		rep.Changes = append(rep.Changes, ImportChange{Line: r.line, PledgeID: p.ID, From: FulfilmentOf(p, kinds[p.TierID]), To: *next.Fulfilment, change: r.change})
	}
	if len(rep.Errors) > 0 {
		return rep, s.importRefused(rep)
	}
	if dryRun {
		return rep, nil
	}
	for _, ch := range rep.Changes {
		if _, _, err := s.SetFulfilment(ctx, camp, ch.PledgeID, ch.change, actor); err != nil {
			// A pledge moved since the check (refunded meanwhile, say): what is applied stays
			// applied, and a second run of the same file finishes the rest.
			return rep, fmt.Errorf("import shipments line %d: %w", ch.Line, err)
		}
		rep.Applied++
	}
	return rep, nil
}

// importRefused is the error of a file with bad rows in a real run; a dry run reports them
// without an error.
func (s *Service) importRefused(rep ImportReport) error {
	if rep.DryRun {
		return nil
	}
	e := &backstitch.Error{Code: backstitch.CodeValidation,
		Message: fmt.Sprintf("The file has %d bad rows; nothing was changed. Fix them (a dry run lists them) and send it again.", len(rep.Errors))}
	for _, re := range rep.Errors {
		e.Fields = append(e.Fields, backstitch.FieldError{Field: fmt.Sprintf("line %d", re.Line), Code: "invalid", Message: re.Reason})
	}
	return e
}

type importRow struct {
	line            int
	pledgeID, email string
	change          FulfilmentChange
}

func (r importRow) pledge(byID map[string]Pledge, byEmail map[string][]Pledge) (Pledge, string) {
	if r.pledgeID != "" {
		p, ok := byID[r.pledgeID]
		if !ok {
			return Pledge{}, fmt.Sprintf("no pledge %q in this campaign", r.pledgeID)
		}
		if r.email != "" && !strings.EqualFold(p.Backer.Email, r.email) {
			return Pledge{}, "the email is not the backer's of this pledge"
		}
		return p, ""
	}
	email, err := account.NormalizeEmail(r.email)
	if err != nil {
		return Pledge{}, "the row has neither a pledge_id nor a valid email"
	}
	switch ps := byEmail[email]; len(ps) {
	case 0:
		return Pledge{}, "no collected pledge with a reward from this email"
	case 1:
		return ps[0], ""
	default:
		return Pledge{}, fmt.Sprintf("this email has %d pledges with rewards: give the pledge_id", len(ps))
	}
}

// readImport parses the file into rows, reporting bad rows through fail; an error is returned
// only for what is not the file's fault.
func readImport(body []byte, fail func(int, string, ...any)) ([]importRow, error) {
	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		fail(1, "the file is empty: it needs a header line (pledge_id or email, carrier, tracking_number)")
		return nil, nil
	}
	if err != nil {
		fail(csvLine(err, 1), "unreadable CSV: %s", csvReason(err))
		return nil, nil
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !slices.Contains(importColumns, h) {
			fail(1, "unknown column %q (columns: %s)", truncate(h, 40), strings.Join(importColumns, ", "))
			return nil, nil
		}
		if _, dup := col[h]; dup {
			fail(1, "column %q appears twice", h)
			return nil, nil
		}
		col[h] = i
	}
	_, hasID := col["pledge_id"]
	_, hasEmail := col["email"]
	if !hasID && !hasEmail {
		fail(1, "the header needs a pledge_id or an email column")
		return nil, nil
	}
	var rows []importRow
	for {
		line, _ := cr.FieldPos(0)
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			fail(csvLine(err, line), "unreadable CSV: %s", csvReason(err))
			return rows, nil
		}
		line, _ = cr.FieldPos(0)
		if len(rows) == MaxImportRows {
			fail(line, "the file has more than %d rows; split it", MaxImportRows)
			return rows, nil
		}
		if len(rec) != len(header) {
			fail(line, "the row has %d fields; the header has %d", len(rec), len(header))
			continue
		}
		get := func(name string) string {
			if i, ok := col[name]; ok {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		r := importRow{line: line, pledgeID: get("pledge_id"), email: get("email"), change: FulfilmentChange{
			Status: FulfilmentStatus(get("status")), Carrier: get("carrier"), TrackingNumber: get("tracking_number"), TrackingURL: get("tracking_url")}}
		if r.change.Status == "" {
			r.change.Status = FulfilShipped
		}
		rows = append(rows, r)
	}
}

func csvLine(err error, fallback int) int {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Line
	}
	return fallback
}

func csvReason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return "malformed"
}

// reasonOf is a row's reason in words: a field error's message, or the error's own.
func reasonOf(err error) string {
	var e *backstitch.Error
	if errors.As(err, &e) {
		if len(e.Fields) > 0 {
			parts := make([]string, len(e.Fields))
			for i, f := range e.Fields {
				parts[i] = f.Field + ": " + f.Message
			}
			return strings.Join(parts, "; ")
		}
		return e.Message
	}
	return "cannot be applied"
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// campaignPledges indexes a campaign's pledges that owe a reward by id and by backer email, with
// each tier's kind.
func (s *Service) campaignPledges(ctx context.Context, camp campaign.Campaign) (map[string]Pledge, map[string][]Pledge, map[string]campaign.TierKind, error) {
	tiers, err := s.store.FindTiers(ctx, camp.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	kinds := map[string]campaign.TierKind{}
	for _, t := range tiers {
		kinds[t.ID] = t.Kind
	}
	byID, byEmail := map[string]Pledge{}, map[string][]Pledge{}
	err = s.store.FindCampaignPledges(ctx, camp.ID, func(p Pledge) error {
		byID[p.ID] = p
		if p.TierID != "" && p.Status.Charged() {
			byEmail[p.Backer.Email] = append(byEmail[p.Backer.Email], p)
		}
		return nil
	})
	return byID, byEmail, kinds, err
}
