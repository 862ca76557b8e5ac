package pledge

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"sync"

	"github.com/rs/zerolog"
)

// A new pledge's confirmation, with its manage link, is sent once the pledge is confirmed (by
// the API, Stripe's webhook or the Checkout return, whichever moves it out of pending first),
// written to the outbox from the pledge: the confirmation is owed by that transition (Owed),
// under an id derived from the pledge, so two paths racing write it once and a crash between the
// transition and the outbox leaves it owed for the next event or the sweeper. The manage token
// the message links is kept on the pledge meanwhile, sealed (ManageSeal), because only its hash
// is stored otherwise; the seal goes once the pledge has left pending and owes nothing more
// (owe, ClearOwed), so no opened link waits in the store for a pledge that needs none.

// ManageSealSecret names the server secret that seals a pending pledge's manage token.
const ManageSealSecret = "manage_token_seal"

// secretKey is a server secret (shared by every instance through the store), loaded once.
type secretKey struct {
	name string
	load func(ctx context.Context, name string) ([]byte, error)
	mu   sync.Mutex
	key  []byte
}

func (k *secretKey) get(ctx context.Context) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key == nil {
		key, err := k.load(ctx, k.name)
		if err != nil {
			return nil, fmt.Errorf("server secret %s: %w", k.name, err)
		}
		k.key = key
	}
	return k.key, nil
}

// SealManageTokens sets where the key that seals a pending pledge's manage token comes from (the
// store's shared server secrets); set before serving. Without it the confirmation links the
// pledge's page instead of its manage page.
func (s *Service) SealManageTokens(load func(ctx context.Context, name string) ([]byte, error)) {
	s.seals = &secretKey{name: ManageSealSecret, load: load}
}

// sealManageToken seals token for p's confirmation, bound to p's id: a seal copied onto another
// pledge does not open.
func (s *Service) sealManageToken(ctx context.Context, p *Pledge, token string) error {
	if s.seals == nil {
		return nil
	}
	aead, err := s.sealCipher(ctx)
	if err != nil {
		return err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go ≥ 1.24 crashes instead).
	p.ManageSeal = aead.Seal(nonce, nonce, []byte(token), []byte(p.ID))
	return nil
}

// ConfirmationToken is the manage token p's confirmation links, opened from its seal; "" when
// p carries none (no sealing key was set when it was made) or one that does not open. An error
// is the key that could not be read (the store), which a later delivery tries again; a seal that
// does not open never will, so the confirmation goes without the link rather than never.
func (s *Service) ConfirmationToken(ctx context.Context, p Pledge) (string, error) {
	if len(p.ManageSeal) == 0 || s.seals == nil {
		return "", nil
	}
	aead, err := s.sealCipher(ctx)
	if err != nil {
		return "", err
	}
	n := aead.NonceSize()
	if len(p.ManageSeal) > n {
		if token, err := aead.Open(nil, p.ManageSeal[:n], p.ManageSeal[n:], []byte(p.ID)); err == nil {
			return string(token), nil
		}
	}
	zerolog.Ctx(ctx).Error().Str("pledge_id", p.ID).Msg("manage token seal does not open: the confirmation links the pledge's page")
	return "", nil
}

func (s *Service) sealCipher(ctx context.Context) (cipher.AEAD, error) {
	key, err := s.seals.get(ctx)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("manage token seal: %w", err)
	}
	return cipher.NewGCM(block)
}
