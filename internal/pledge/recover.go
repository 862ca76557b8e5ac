package pledge

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
)

// A backer who lost her manage link asks for her pledges by email. Her original token cannot be
// sent again (only its hash is stored), so each pledge gets a new manage key: another random
// 256-bit token, stored as its hash, shown only in the message to the pledge's own address, and
// as good as the original one (which keeps working, so a stranger asking for someone's pledges
// cannot lock her out of them). Nothing about the answer says whether the address has pledges.

// ManageKey is an extra manage token of a pledge, issued to the pledge's address on request.
type ManageKey struct {
	// ID is the hash of the token (account.TokenID), as for sessions.
	ID        string    `bson:"_id"`
	PledgeID  string    `bson:"pledge_id"`
	CreatedAt time.Time `bson:"created_at"`
}

// Limits on asking for one's pledges: per address asked for, and per network address asking.
// Each answer is a message to someone's inbox, so the limits keep the form from being used to
// flood one (or from being used to learn anything by timing many of them).
const (
	RecoverPerEmail   = 3
	RecoverPerAddress = 20
	RecoverWindow     = time.Hour
	// RecoverMax is how many pledges one message lists, newest first.
	RecoverMax = 50
)

// RecoverStore is what recovering needs beside the pledge store.
type RecoverStore interface {
	account.RateCounter
	// FindPledgesByEmail lists the pledges of a backer's address, newest first.
	FindPledgesByEmail(ctx context.Context, email string, limit int) ([]Pledge, error)
	CreateManageKey(ctx context.Context, k ManageKey) error
}

// Recovered is a pledge with a manage token made for it just now.
type Recovered struct {
	Pledge Pledge
	Token  string
}

// Recover issues a manage token for each pledge of email, asked from the network address
// address. A malformed address is a validation error; a rate limit is a rate_limited error; an
// address without pledges is no pledges and no error. The caller sends the tokens to email and
// must answer the same in each of the last three cases.
func (s *Service) Recover(ctx context.Context, rs RecoverStore, email, address string) ([]Recovered, error) {
	email, err := account.NormalizeEmail(email)
	if err != nil {
		return nil, &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.",
			Fields: []backstitch.FieldError{{Field: "email", Code: "invalid", Message: err.Error()}}}
	}
	now := s.now()
	if err := account.RateLimit(ctx, rs, "recover:addr:"+address, RecoverPerAddress, RecoverWindow, now); err != nil {
		return nil, err
	}
	if err := account.RateLimit(ctx, rs, "recover:email:"+email, RecoverPerEmail, RecoverWindow, now); err != nil {
		return nil, err
	}
	ps, err := rs.FindPledgesByEmail(ctx, email, RecoverMax)
	if err != nil {
		return nil, err
	}
	out := make([]Recovered, 0, len(ps))
	for _, p := range ps {
		if p.ErasedAt != nil {
			continue
		}
		token := newToken()
		if err := rs.CreateManageKey(ctx, ManageKey{ID: account.TokenID(token), PledgeID: p.ID, CreatedAt: now}); err != nil {
			return nil, err
		}
		out = append(out, Recovered{Pledge: p, Token: token})
	}
	zerolog.Ctx(ctx).Info().Str("backer", account.MaskEmail(email)).Int("pledges", len(out)).Msg("pledges recovered by email")
	return out, nil
}
