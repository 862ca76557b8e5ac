package pages

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/pledge"
	"github.com/backstitch/backstitch/internal/update"
)

// The pages that mail leads to or sends: finding one's pledges by email, and leaving a
// campaign's updates.

// Mail is what those pages need from the wiring.
type Mail struct {
	// Recover counts the rate limits and keeps the manage keys of recovered pledges.
	Recover pledge.RecoverStore
	// Outbox writes the message that lists them.
	Outbox interface {
		PledgesRecovered(ctx context.Context, lang string, rs []pledge.Recovered) error
	}
	// Subscriptions checks unsubscribe links and records them.
	Subscriptions interface {
		CheckUnsubscribe(ctx context.Context, token string) (campaignID string, err error)
		Unsubscribe(ctx context.Context, token string) (campaignID string, err error)
	}
	// Digests checks and follows the daily digest's off links.
	Digests interface {
		CheckDigestOff(ctx context.Context, token string) (userID string, err error)
		DigestOff(ctx context.Context, token string) error
	}
	// Updates lists a campaign's public updates, for its page and its feed.
	Updates interface {
		Public(ctx context.Context, campaignID string, limit int) ([]update.Update, error)
	}
}

type recoverView struct {
	base
	Action, CSRF, Email, Error string
	Sent                       bool
}

const recoverPath = "/pledges/recover"

func (p *Pages) recoverForm(r *request) (view, error) {
	token, err := p.csrf.Token(r.c)
	if err != nil {
		return view{}, err
	}
	v := recoverView{base: r.base, Action: recoverPath, CSRF: token}
	v.Title = r.loc.T("recover.title")
	return view{name: "recover", data: v, private: true}, nil
}

// recoverSubmit sends the address its pledges' links. Whether the address has pledges, has none,
// or asked too often, the page is the same (status and bytes): only its inbox learns the
// answer. A malformed address is the one thing said, since it says nothing about anyone.
func (p *Pages) recoverSubmit(r *request) (view, error) {
	if err := p.csrf.Check(r.c); err != nil {
		return p.forged(r, err)
	}
	token, err := p.csrf.Token(r.c)
	if err != nil {
		return view{}, err
	}
	email := strings.TrimSpace(r.c.FormValue("email"))
	v := recoverView{base: r.base, Action: recoverPath, CSRF: token}
	v.Title = r.loc.T("recover.title")
	found, err := p.pledges.Recover(r.c.UserContext(), p.mail.Recover, email, r.c.IP())
	switch code := backstitch.ErrorCode(err); {
	case err == nil:
		if err := p.mail.Outbox.PledgesRecovered(r.c.UserContext(), r.Lang, found); err != nil {
			return view{}, err
		}
	case code == backstitch.CodeValidation:
		v.Email, v.Error = email, r.loc.T("recover.invalid")
		return view{status: http.StatusUnprocessableEntity, name: "recover", data: v, private: true}, nil
	case code == backstitch.CodeRateLimited:
		// The same page as any other answer: a 429 would tell that this address was asked for
		// before, and someone may be asking on a stranger's behalf.
	default:
		return view{}, err
	}
	v.Sent = true
	return view{name: "recover", data: v, private: true}, nil
}

type unsubscribeView struct {
	base
	// Button names the confirm button when it stops something else than updates.
	Action, Body, Button string
	Done                 bool
}

// unsubscribeConfirm is what following the link in a message shows: a button, never a change
// (mail scanners and link previews open every link they see).
func (p *Pages) unsubscribeConfirm(r *request) (view, error) {
	token := r.c.Query("token")
	campaignID, err := p.mail.Subscriptions.CheckUnsubscribe(r.c.UserContext(), token)
	if err != nil {
		return p.unsubscribeInvalid(r, err)
	}
	v := unsubscribeView{base: r.base, Action: "/unsubscribe?" + url.Values{"token": {token}}.Encode(),
		Body: r.loc.T("unsubscribe.body", p.campaignTitle(r.c.UserContext(), campaignID))}
	v.Title = r.loc.T("unsubscribe.title")
	// The token is in the address: no other site may learn it from a Referer.
	r.c.Set("Referrer-Policy", "no-referrer")
	return view{name: "unsubscribe", data: v, private: true}, nil
}

// unsubscribe stops the updates. It is both the confirm page's button and RFC 8058's one-click
// POST, which a mail client sends with no cookie and no page: so there is no CSRF token to
// check, and none is needed. The token in the address is the only authority, and a forged
// request would have to know it. Leaving twice is leaving once.
func (p *Pages) unsubscribe(r *request) (view, error) {
	token := r.c.Query("token")
	if token == "" {
		token = r.c.FormValue("token")
	}
	campaignID, err := p.mail.Subscriptions.Unsubscribe(r.c.UserContext(), token)
	if err != nil {
		return p.unsubscribeInvalid(r, err)
	}
	v := unsubscribeView{base: r.base, Done: true,
		Body: r.loc.T("unsubscribe.done.body", p.campaignTitle(r.c.UserContext(), campaignID))}
	v.Title = r.loc.T("unsubscribe.done.title")
	r.c.Set("Referrer-Policy", "no-referrer")
	return view{name: "unsubscribe", data: v, private: true}, nil
}

func (p *Pages) unsubscribeInvalid(r *request, err error) (view, error) {
	if backstitch.ErrorCode(err) != backstitch.CodeNotFound {
		return view{}, err
	}
	v := unsubscribeView{base: r.base, Body: r.loc.T("unsubscribe.invalid.body")}
	v.Title = r.loc.T("unsubscribe.invalid.title")
	return view{status: http.StatusNotFound, name: "unsubscribe", data: v, private: true}, nil
}

// campaignTitle names the campaign of an unsubscribe link; one that is not public (it cannot
// have had backers) shows as a dash rather than failing the page.
func (p *Pages) campaignTitle(ctx context.Context, id string) string {
	d, err := p.campaigns.Show(ctx, campaign.Actor{}, id)
	if err != nil {
		return "—"
	}
	return d.Campaign.Title
}
