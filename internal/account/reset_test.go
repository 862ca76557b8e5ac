package account_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/testenv"
)

// Racing requests with one reset link: exactly one sets the password.
func TestResetLinkIsSingleUseUnderRacingRequests(t *testing.T) {
	clock := testenv.NewClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	svc := account.NewService(testenv.MustStore(t), clock.Now,
		account.Policy{SessionTTL: time.Hour, LoginPerAddress: 100, LoginPerAccount: 100, LoginWindow: time.Minute})
	ctx := context.Background()
	if _, err := svc.SignUpDesigner(ctx, account.SignupFields{Email: "ana@atelier.example", Password: "linen and wool", Name: "Ana"}); err != nil {
		t.Fatal(err)
	}
	token, _, err := svc.RequestPasswordReset(ctx, "ana@atelier.example", "192.0.2.1")
	if err != nil || token == "" {
		t.Fatalf("reset: %q %v", token, err)
	}
	const racers = 8
	var wg sync.WaitGroup
	results := make(chan error, racers)
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.ResetPassword(ctx, token, "new passphrase number "+string(rune('a'+i)))
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	won := 0
	for err := range results {
		switch backstitch.ErrorCode(err) {
		case backstitch.CodeNotFound:
		default:
			if err != nil {
				t.Fatalf("reset: %v", err)
			}
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d resets succeeded with one link, want 1", won)
	}
	if tok, _, err := svc.RequestPasswordReset(ctx, "nobody@atelier.example", "192.0.2.1"); tok != "" || err != nil {
		t.Errorf("unknown address: %q %v", tok, err)
	}
}
