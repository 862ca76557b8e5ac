package mongostore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/testenv"
)

// Twenty admins each disabling another at once leave exactly one active; she cannot be
// disabled; disabling one already disabled changes nothing.
func TestDisablingAdminsAtOnceLeavesOne(t *testing.T) {
	s := testenv.MustStore(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	const n = 20
	var ids []string
	for i := range n {
		u, err := account.NewUser(account.SignupFields{Email: fmt.Sprintf("admin%d@backstitch.example", i), Password: "review carefully", Name: "A"}, account.RoleAdmin, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.ID)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.DisableAdmin(ctx, ids[(i+1)%n], now)
		}()
	}
	wg.Wait()
	refused := 0
	for _, err := range errs {
		switch backstitch.ErrorCode(err) {
		case "":
		case backstitch.CodeLastAdmin:
			refused++
		default:
			t.Fatal(err)
		}
	}
	admins, err := s.ListAdmins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var active []string
	for _, u := range admins {
		if u.DisabledAt == nil {
			active = append(active, u.ID)
		}
	}
	if len(active) != 1 || refused != 1 {
		t.Fatalf("%d active, %d refused", len(active), refused)
	}
	if _, err := s.DisableAdmin(ctx, active[0], now); backstitch.ErrorCode(err) != backstitch.CodeLastAdmin {
		t.Errorf("the last admin: %v", err)
	}
	for _, id := range ids {
		if id == active[0] {
			continue
		}
		if changed, err := s.DisableAdmin(ctx, id, now); err != nil || changed {
			t.Errorf("disabling %s again: %v %v", id, changed, err)
		}
		break
	}
	// A new admin joins the roster: now the other one can go.
	u, err := account.NewUser(account.SignupFields{Email: "late@backstitch.example", Password: "review carefully", Name: "L"}, account.RoleAdmin, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if changed, err := s.DisableAdmin(ctx, active[0], now); err != nil || !changed {
		t.Errorf("disabling with another admin active: %v %v", changed, err)
	}
}
