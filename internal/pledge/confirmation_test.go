package pledge

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// The seal of a pending pledge's manage token opens for that pledge only, under the server's
// key: a seal copied onto another pledge, or tampered with, opens to no token (the confirmation
// then links the pledge's page), and the token is never in the seal in clear. A key the store
// cannot give is an error, for a later delivery to try again.
func TestManageSealOpensForItsPledgeOnly(t *testing.T) {
	ctx := context.Background()
	key := bytes.Repeat([]byte{7}, 32)
	s := &Service{}
	s.SealManageTokens(func(context.Context, string) ([]byte, error) { return key, nil })
	p := Pledge{ID: "plg_a"}
	const token = "the-manage-token"
	if err := s.sealManageToken(ctx, &p, token); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.ManageSeal, []byte(token)) {
		t.Fatal("the seal holds the token in clear")
	}
	if got, err := s.ConfirmationToken(ctx, p); err != nil || got != token {
		t.Fatalf("opened %q (%v), want the token", got, err)
	}
	other := Pledge{ID: "plg_b", ManageSeal: p.ManageSeal}
	tampered := Pledge{ID: "plg_a", ManageSeal: append(bytes.Clone(p.ManageSeal[:len(p.ManageSeal)-1]), p.ManageSeal[len(p.ManageSeal)-1]^1)}
	for name, q := range map[string]Pledge{"copied": other, "tampered": tampered, "short": {ID: "plg_a", ManageSeal: []byte{1}}, "none": {ID: "plg_a"}} {
		if got, err := s.ConfirmationToken(ctx, q); err != nil || got != "" {
			t.Errorf("%s seal opened to %q (%v), want no token", name, got, err)
		}
	}
	down := &Service{}
	down.SealManageTokens(func(context.Context, string) ([]byte, error) { return nil, errors.New("store down") })
	if _, err := down.ConfirmationToken(ctx, p); err == nil {
		t.Fatal("no key, yet no error: the confirmation would go without its link for good")
	}
}
