// Command indexcost measures what the query indexes of the pledges collection cost each write on
// the embedded store, where they serve no query (its SQLite backend filters on _id alone). Round
// after round, alternating, it seeds n pledges in a fresh store with every index the store makes
// and in one with only the unique ones (mongostore.Options.ConstraintIndexesOnly), then
//   - replaces each pledge once through the store's compare-and-set, as a charge writes it (read
//     by _id, compare, replace by _id under the pledge's lock), c at a time;
//   - with the store closed, runs FerretDB's own UPDATE of each pledge on its SQLite file directly:
//     the part of a write the indexes can change.
//
// It prints the process's CPU time per write, which the load of a shared machine moves less than
// the rate, and the medians' ratios.
//
//	go run ./bench/indexcost [-n 1000] [-c 8] [-rounds 3] [-cpuprofile file]
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the SQLite driver FerretDB uses

	"github.com/backstitch/backstitch/bench/internal/pool"
	"github.com/backstitch/backstitch/bench/internal/profile"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/embedded"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/mongostore"
	"github.com/backstitch/backstitch/internal/pledge"
)

func main() {
	n := flag.Int("n", 1000, "pledges in the collection, each written once per round and level")
	conc := flag.Int("c", 8, "concurrent writers through the store")
	rounds := flag.Int("rounds", 3, "rounds of each kind, alternating which goes first")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	stopProfile := profile.Start(*cpuProfile)
	defer stopProfile()
	// CPU time per write, by kind (false: every index, true: the unique ones only).
	replaces, updates := map[bool][]time.Duration{}, map[bool][]time.Duration{}
	for r := range *rounds {
		for _, uniqueOnly := range []bool{r%2 == 1, r%2 == 0} {
			replace, update, err := measure(*n, *conc, uniqueOnly)
			if err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				stopProfile()
				os.Exit(1)
			}
			replaces[uniqueOnly], updates[uniqueOnly] = append(replaces[uniqueOnly], replace), append(updates[uniqueOnly], update)
			fmt.Printf("round %d, %-24s CPU per store replace %v, per SQLite UPDATE %v\n", r+1, kind(uniqueOnly)+":", replace, update)
		}
	}
	for _, level := range []struct {
		name string
		cpu  map[bool][]time.Duration
	}{{"store replace", replaces}, {"SQLite UPDATE", updates}} {
		all, only := median(level.cpu[false]), median(level.cpu[true])
		fmt.Printf("median CPU per %s: %v with every index, %v with the unique ones only (%.2fx)\n", level.name, all, only, float64(all)/float64(only))
	}
}

func kind(uniqueOnly bool) string {
	if uniqueOnly {
		return "unique indexes only"
	}
	return "every index"
}

func median(v []time.Duration) time.Duration {
	slices.Sort(v)
	return v[len(v)/2]
}

// measure seeds n pledges in a fresh store and returns the CPU time per replace through the store
// and per UPDATE straight on SQLite.
func measure(n, conc int, uniqueOnly bool) (replace, update time.Duration, err error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "backstitch-bench-indexcost-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	es, err := embedded.Start(dir)
	if err != nil {
		return 0, 0, err
	}
	defer es.Close()
	store, err := mongostore.Open(ctx, mongostore.Options{URI: es.URI(), Database: "bench", SingleConnection: true,
		Locks: es.Locks(), ConstraintIndexesOnly: uniqueOnly})
	if err != nil {
		return 0, 0, err
	}
	defer store.Close(ctx)
	if err := es.IndexIDs(ctx, "bench"); err != nil {
		return 0, 0, err
	}
	now := time.Now().UTC()
	pledges := make([]pledge.Pledge, n)
	if _, err := pool.Run(n, conc, func(i int) error {
		pledges[i] = pledge.Pledge{ID: fmt.Sprintf("plg_bench%06d", i), CampaignID: "cmp_bench", FundingModel: campaign.AllOrNothing,
			TierID: "tir_bench", RewardPrice: 4000, Shipping: 1000, Amount: money.Money{Amount: 5000, Currency: "CHF"},
			Backer: pledge.Backer{Name: fmt.Sprintf("Backer %d", i), Email: fmt.Sprintf("b%d@example.com", i)},
			Status: pledge.StatusActive, ManageTokenHash: strings.Repeat("0123456789abcdef", 4),
			CustomerID: fmt.Sprintf("cus_bench%06d", i), SetupIntentID: fmt.Sprintf("seti_bench%06d", i),
			PaymentMethodID: fmt.Sprintf("pm_bench%06d", i), CreatedAt: now, UpdatedAt: now, History: []pledge.HistoryEntry{}}
		return store.CreatePledge(ctx, pledges[i])
	}); err != nil {
		return 0, 0, err
	}
	cpu := profile.CPUTime()
	if _, err := pool.Run(n, conc, func(i int) error {
		next := pledges[i]
		next.Status, next.ChargeAttempts, next.PaymentIntentID = pledge.StatusCharging, 1, fmt.Sprintf("pi_bench%06d", i)
		_, err := store.ReplacePledge(ctx, pledges[i], next)
		return err
	}); err != nil {
		return 0, 0, err
	}
	replace = (profile.CPUTime() - cpu) / time.Duration(n)
	_ = store.Close(ctx)
	if err := es.Close(); err != nil {
		return 0, 0, err
	}
	update, err = sqliteUpdates(filepath.Join(dir, "bench.sqlite"))
	return replace, update, err
}

// sqliteUpdates runs FerretDB v1.24's UPDATE (internal/backends/sqlite/collection.go) of every
// pledge, setting its status back to active, and returns the CPU time per UPDATE.
func sqliteUpdates(path string) (time.Duration, error) {
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var table string
	if err := db.QueryRow("SELECT table_name FROM _ferretdb_collections WHERE name = 'pledges'").Scan(&table); err != nil {
		return 0, err
	}
	rows, err := db.Query(fmt.Sprintf(`SELECT _ferretdb_sjson->'$._id', _ferretdb_sjson FROM %q`, table))
	if err != nil {
		return 0, err
	}
	var ids, docs []string
	for rows.Next() {
		var id, doc string
		if err := rows.Scan(&id, &doc); err != nil {
			rows.Close()
			return 0, err
		}
		ids, docs = append(ids, id), append(docs, strings.Replace(doc, `"charging"`, `"active"`, 1))
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(ids) == 0 {
		return 0, fmt.Errorf("read pledges back: %d, %v", len(ids), err)
	}
	q := fmt.Sprintf(`UPDATE %q SET _ferretdb_sjson = ? WHERE _ferretdb_sjson->'$._id' = ?`, table)
	cpu := profile.CPUTime()
	for i, id := range ids {
		if _, err := db.Exec(q, docs[i], id); err != nil {
			return 0, err
		}
	}
	return (profile.CPUTime() - cpu) / time.Duration(len(ids)), nil
}
