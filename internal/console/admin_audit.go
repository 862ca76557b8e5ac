package console

import (
	"bufio"
	"context"
	"encoding/csv"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
)

const (
	// auditPage is how many entries one page of the audit log shows.
	auditPage = 50
	// auditExportPage is how many entries the CSV export reads at a time: the file streams, so
	// memory stays bounded however long the log.
	auditExportPage = 500
	// maxAuditFilter bounds a filter's text; ids and actions are far shorter.
	maxAuditFilter = 200
)

// auditFilter is the log's filters and position as a page's query gives them.
type auditFilter struct {
	backstitch.AuditFilter
	// Cursor is the query's position as sent, kept for the links.
	Cursor string
}

// auditQuery reads the filters (action, target, actor) and the position (before: the last
// entry of the previous page, "unix-nanoseconds.id"). A position that does not parse starts at
// the top: it only ever moves within the log, which every admin may read whole.
func auditQuery(c *fiber.Ctx) auditFilter {
	clip := func(s string) string {
		s = strings.TrimSpace(s)
		if len(s) > maxAuditFilter {
			return s[:maxAuditFilter]
		}
		return s
	}
	f := auditFilter{AuditFilter: backstitch.AuditFilter{Action: clip(c.Query("action")), Target: clip(c.Query("target")), Actor: clip(c.Query("actor"))}}
	if ns, id, ok := strings.Cut(c.Query("before"), "."); ok && id != "" && len(id) <= 64 {
		if n, err := strconv.ParseInt(ns, 10, 64); err == nil {
			f.Before, f.BeforeID, f.Cursor = time.Unix(0, n).UTC(), id, c.Query("before")
		}
	}
	return f
}

// values is the filters as a query, for links that keep them.
func (f auditFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"action": f.Action, "target": f.Target, "actor": f.Actor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

func auditCursor(e backstitch.AuditEntry) string {
	return strconv.FormatInt(e.At.UnixNano(), 10) + "." + e.ID
}

// auditRow is an entry as the page shows it.
type auditRow struct {
	At, Action, ActionLabel, Target, TargetHref, Actor, ActorName, Reason string
	Changes                                                               []string
}

type auditView struct {
	base
	Action, Target, Actor string
	Actions               []actionChoice
	Rows                  []auditRow
	CSV                   string
	Pager                 pager
}

// actionChoice is an action in the filter's list.
type actionChoice struct {
	Value, Label string
	Selected     bool
}

// auditActions are the actions admins filter by, in the order the list shows them.
var auditActions = []string{"admin.invite", "admin.invite.accept", "admin.disable", "campaign.approve", "campaign.reject",
	"campaign.settle", "pledge.refund", "pledge.erase", "reconciliation.start", "reconciliation.finding.resolve"}

// auditPageView lists the audit log, newest first, a page at a time, filtered by action, target
// and actor.
func (k *Console) auditPage(r *request) (view, error) {
	ctx := r.c.UserContext()
	f := auditQuery(r.c)
	f.Limit = auditPage + 1
	entries, err := k.admins.Store.FindAudit(ctx, f.AuditFilter)
	if err != nil {
		return view{}, err
	}
	v := auditView{base: r.base, Action: f.Action, Target: f.Target, Actor: f.Actor}
	v.Title = r.loc.T("admin.audit.title")
	for _, a := range auditActions {
		v.Actions = append(v.Actions, actionChoice{Value: a, Label: auditActionLabel(r, a), Selected: a == f.Action})
	}
	if f.Action != "" && !slices.Contains(auditActions, f.Action) {
		v.Actions = append(v.Actions, actionChoice{Value: f.Action, Label: f.Action, Selected: true})
	}
	q := f.values()
	v.CSV = "/admin/audit.csv"
	if len(q) > 0 {
		v.CSV += "?" + q.Encode()
	}
	var first, next string
	if f.Cursor != "" {
		first = "/admin/audit"
		if len(q) > 0 {
			first += "?" + q.Encode()
		}
	}
	if len(entries) > auditPage {
		entries = entries[:auditPage]
		older := f.values()
		older.Set("before", auditCursor(entries[len(entries)-1]))
		next = "/admin/audit?" + older.Encode()
	}
	v.Pager = newPager(r.loc, auditPager, first, next)
	names := map[string]string{}
	for _, e := range entries {
		row := auditRow{At: when(r, e.At), Action: e.Action, ActionLabel: auditActionLabel(r, e.Action), Target: e.Target,
			TargetHref: targetHref(e.Target), Actor: e.Actor, Reason: e.Reason, Changes: changes(e)}
		if row.ActorName, err = k.actorName(ctx, r, e.Actor, names); err != nil {
			return view{}, err
		}
		v.Rows = append(v.Rows, row)
	}
	return view{name: "admin_audit", data: v}, nil
}

// auditActionLabel names an action in the admin's language; an action the catalogue does not
// know (a newer one) shows as its code.
func auditActionLabel(r *request, action string) string {
	if slices.Contains(auditActions, action) {
		return r.loc.T("admin.audit.action." + action)
	}
	return action
}

// actorName is the name of the account behind an actor id ("" for a backer, the system, or an
// account gone); names keeps those read for one page.
func (k *Console) actorName(ctx context.Context, r *request, actor string, names map[string]string) (string, error) {
	if name, ok := names[actor]; ok {
		return name, nil
	}
	name := ""
	switch {
	case actor == "backer":
		name = r.loc.T("admin.audit.backer")
	case strings.HasPrefix(actor, "usr_"):
		n, err := k.accounts.PublicName(ctx, actor)
		switch {
		case err == nil:
			name = n
		case backstitch.ErrorCode(err) != backstitch.CodeNotFound:
			return "", err
		}
	}
	names[actor] = name
	return name, nil
}

// targetHref links an entry's target to its page when the console has one.
func targetHref(target string) string {
	switch {
	case strings.HasPrefix(target, "plg_"):
		return pledgeHref(target)
	case strings.HasPrefix(target, "cam_"):
		return reviewHref(target)
	case strings.HasPrefix(target, "rec_"):
		return runHref(target)
	}
	return ""
}

// changes are an entry's before and after, one "key: before → after" a line, in key order.
func changes(e backstitch.AuditEntry) []string {
	keys := slices.Sorted(maps.Keys(e.Before))
	for k := range e.After {
		if _, ok := e.Before[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		b, hadBefore := e.Before[k]
		a, hasAfter := e.After[k]
		hadBefore, hasAfter = hadBefore && b != "", hasAfter && a != ""
		switch {
		case !hadBefore && !hasAfter:
			// An empty value (a run of a campaign has no period) says nothing.
		case hadBefore && hasAfter:
			out = append(out, k+": "+b+" → "+a)
		case hasAfter:
			out = append(out, k+": "+a)
		default:
			out = append(out, k+": "+b+" → —")
		}
	}
	return out
}

// auditHeader is the CSV's first row: stable machine names, whatever the admin's language.
var auditHeader = []string{"id", "at", "actor", "action", "target", "reason", "before", "after"}

// auditCSV streams the filtered log as CSV (UTF-8 with a BOM, so spreadsheets read the accents
// right), newest first, a few hundred entries at a time. The first page is read before the
// answer starts, so a failure there is still an error page; a failure later cuts the file
// short, which is logged.
func (k *Console) auditCSV(r *request) (view, error) {
	ctx := r.c.UserContext()
	f := auditQuery(r.c).AuditFilter
	f.Limit = auditExportPage
	first, err := k.admins.Store.FindAudit(ctx, f)
	if err != nil {
		return view{}, err
	}
	// The stream is written after the handler returns, when the request's context is done.
	stream, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	pr, pw := io.Pipe()
	go func() {
		defer cancel()
		bw := bufio.NewWriter(pw)
		err := k.writeAuditCSV(stream, bw, f, first)
		if err == nil {
			err = bw.Flush()
		}
		if err != nil {
			zerolog.Ctx(stream).Error().Err(err).Msg("audit export cut short")
		}
		pw.CloseWithError(err)
	}()
	r.c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	r.c.Set(fiber.HeaderContentDisposition, `attachment; filename="audit-log.csv"`)
	r.c.Set(fiber.HeaderCacheControl, "no-store")
	return view{stream: pr}, nil
}

func (k *Console) writeAuditCSV(ctx context.Context, out *bufio.Writer, f backstitch.AuditFilter, page []backstitch.AuditEntry) error {
	if _, err := out.WriteString("\uFEFF"); err != nil {
		return err
	}
	w := csv.NewWriter(out)
	if err := w.Write(auditHeader); err != nil {
		return err
	}
	for {
		for _, e := range page {
			if err := w.Write(backstitch.SafeCells([]string{e.ID, e.At.UTC().Format(time.RFC3339Nano), e.Actor, e.Action, e.Target, e.Reason,
				pairs(e.Before), pairs(e.After)})); err != nil {
				return err
			}
		}
		if w.Flush(); w.Error() != nil {
			return w.Error()
		}
		if len(page) < f.Limit {
			return nil
		}
		last := page[len(page)-1]
		f.Before, f.BeforeID = last.At, last.ID
		var err error
		if page, err = k.admins.Store.FindAudit(ctx, f); err != nil {
			return err
		}
	}
}

// pairs writes a before or after map as "key=value" pairs in key order, one cell.
func pairs(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, "; ")
}
