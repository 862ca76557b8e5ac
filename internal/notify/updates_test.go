package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// An unsubscribe token opens its own campaign and address only: changing either part, or the MAC,
// or signing with another key, makes it not found.
func TestUnsubscribeTokens(t *testing.T) {
	key := func(context.Context, string) ([]byte, error) { return []byte("k1"), nil }
	u := NewUpdates(nil, key, "https://b.example", time.Now)
	camp, other := backstitch.NewID("cam"), backstitch.NewID("cam")
	ek := emailKey("Ana@Example.com")
	if ek != emailKey("ana@example.com") || strings.Contains(ek, "ana") {
		t.Fatalf("address key %q", ek)
	}
	token := signUnsubscribe([]byte("k1"), camp, ek)
	got, err := u.CheckUnsubscribe(context.Background(), token)
	if err != nil || got != camp {
		t.Fatalf("a good token: %q %v", got, err)
	}
	parts := strings.Split(token, ".")
	for name, bad := range map[string]string{
		"another campaign": other + "." + parts[1] + "." + parts[2],
		"another address":  parts[0] + "." + emailKey("bo@example.com") + "." + parts[2],
		"no MAC":           parts[0] + "." + parts[1] + ".",
		"another key":      signUnsubscribe([]byte("k2"), camp, ek),
		"empty":            "",
		"not an id":        "x." + parts[1] + "." + parts[2],
		"too long":         token + strings.Repeat("a", 300),
	} {
		if _, err := u.CheckUnsubscribe(context.Background(), bad); backstitch.ErrorCode(err) != backstitch.CodeNotFound {
			t.Errorf("%s: %v, want not found", name, err)
		}
	}
}
