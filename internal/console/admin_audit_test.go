//go:build !production

package console_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
)

var (
	auditRowID = regexp.MustCompile(`<tr class="audit-row">\s*<td>[^<]*</td>\s*<td>[^<]*(?:<br><code class="meta">[^<]*</code>)?</td>\s*<td>(?:<a href="[^"]*">)?<code>([^<]*)</code>`)
	olderLink  = regexp.MustCompile(`<a href="([^"]+)" rel="next">`)
)

// The audit log pages newest first in a stable order (entries of the same instant included),
// filters by action, target and actor, and downloads as CSV that spreadsheets open with the
// right accents and never run as formulas. A backer's erasure request is there for admins.
func TestAuditLogPagesFiltersAndExports(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	adm := s.adminVisitor("fr")
	base := s.clock.Now().Add(time.Hour)
	// 520 entries (more than the export reads at once): the first 60 at one instant, the rest
	// a second apart; targets tgt_000…
	const n = 520
	var want []string
	for i := range n {
		at := base
		if i >= 60 {
			at = base.Add(time.Duration(i) * time.Second)
		}
		e := backstitch.AuditEntry{At: at, Actor: "usr_bulk", Action: "pledge.refund", Target: fmt.Sprintf("tgt_%03d", i), Reason: "Geste commercial, Élodie"}
		switch i {
		case 7:
			e.Reason = "=HYPERLINK(\"http://evil.example\",\"clic\")"
		case 8:
			e.Action, e.Actor, e.Target, e.Reason = "pledge.erase", "backer", "plg_erased", ""
			e.After = map[string]string{"status": "collected", "erased_at": "2026-11-02T10:00:00Z"}
		}
		if err := s.store.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e.Target)
	}
	// Newest first: the seconds, then the 60 of one instant in some fixed order.
	var got []string
	next := "/admin/audit?actor=usr_bulk"
	pages := 0
	for next != "" {
		p := adm.get(strings.ReplaceAll(next, "&amp;", "&"))
		if p.status != 200 {
			t.Fatalf("%s: %d", next, p.status)
		}
		for _, m := range auditRowID.FindAllStringSubmatch(p.body, -1) {
			got = append(got, m[1])
		}
		next = ""
		if m := olderLink.FindStringSubmatch(p.body); m != nil {
			next = m[1]
		}
		if pages++; pages > 20 {
			t.Fatal("the pages do not end")
		}
	}
	all := slices.Clone(got)
	slices.Sort(all)
	if len(got) != n-1 || len(slices.Compact(all)) != n-1 {
		t.Fatalf("paged %d entries (%d distinct), want %d (every bulk one but the erasure)", len(got), len(slices.Compact(all)), n-1)
	}
	for i := range n - 60 {
		if got[i] != want[n-1-i] {
			t.Fatalf("entry %d is %s, want %s (newest first)", i, got[i], want[n-1-i])
		}
	}
	// A second walk gives the same order: the same instant's entries are ordered by id.
	first := adm.get("/admin/audit?actor=usr_bulk")
	if m := auditRowID.FindAllStringSubmatch(first.body, -1); len(m) != 50 || m[0][1] != got[0] {
		t.Errorf("first page again: %d rows", len(m))
	}

	// Filters.
	for q, n := range map[string]int{"target=tgt_042": 1, "action=pledge.erase": 1, "actor=backer": 1, "action=pledge.refund&target=plg_erased": 0} {
		p := adm.get("/admin/audit?" + q)
		if rows := auditRowID.FindAllStringSubmatch(p.body, -1); p.status != 200 || len(rows) != n {
			t.Errorf("%s: %d, %d rows, want %d", q, p.status, len(rows), n)
		}
	}
	erased := adm.get("/admin/audit?action=pledge.erase")
	if !strings.Contains(erased.body, "Effacement demandé") || !strings.Contains(erased.body, "Un contributeur") || !strings.Contains(erased.body, `<a href="/admin/pledges/plg_erased">`) {
		t.Errorf("the erasure request in the log:\n%s", erased.body)
	}

	// The CSV: every filtered entry, UTF-8 with a BOM, formulas defused.
	p := adm.get("/admin/audit.csv?" + url.Values{"actor": {"usr_bulk"}}.Encode())
	if p.status != 200 || p.header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.Contains(p.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("csv: %d %v", p.status, p.header)
	}
	if !strings.HasPrefix(p.body, "\uFEFF") {
		t.Error("the CSV has no BOM")
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(p.body, "\uFEFF"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n || !slices.Equal(rows[0], []string{"id", "at", "actor", "action", "target", "reason", "before", "after"}) {
		t.Fatalf("csv: %d rows, header %v", len(rows), rows[0])
	}
	var targets []string
	for _, r := range rows[1:] {
		targets = append(targets, r[4])
		if r[4] == "tgt_007" && !strings.HasPrefix(r[5], "'=") {
			t.Errorf("a formula is live: %q", r[5])
		}
		if r[4] == "tgt_000" && r[5] != "Geste commercial, Élodie" {
			t.Errorf("accents: %q", r[5])
		}
	}
	if !slices.Equal(targets, got) {
		t.Error("the CSV's order is not the pages'")
	}
	// A position that is not one the pages gave out starts at the top rather than failing.
	if p := adm.get("/admin/audit?before=garbage"); p.status != 200 {
		t.Errorf("bad position: %d", p.status)
	}
}
