package notify

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
)

// Outbox turns stored changes of pledges and campaigns into messages in the store. It is what
// the pledge and campaign services tell (pledge.Notices, campaign.Notices).
type Outbox struct {
	store     Store
	publicURL string
	now       backstitch.Clock
}

var (
	_ pledge.Notices   = (*Outbox)(nil)
	_ campaign.Notices = (*Outbox)(nil)
)

// NewOutbox builds the outbox; links in messages start with publicURL (BACKSTITCH_PUBLIC_URL).
func NewOutbox(store Store, publicURL string, now backstitch.Clock) *Outbox {
	return &Outbox{store: store, publicURL: publicURL, now: now}
}

// confirmationID is the id of a pledge's confirmation: one per pledge, written when the pledge
// is created and released when it is confirmed.
func confirmationID(pledgeID string) string { return "msg_" + pledgeID + ".confirmed" }

// changeID names the message a stored change causes: the document and the version the change
// wrote identify the change, so whoever repeats it (a retry, the webhook after the response)
// arrives at the same id.
func changeID(docID string, version int64, k Kind) string {
	return fmt.Sprintf("msg_%s.v%d.%s", docID, version, k)
}

// linkSecrets are data that open something without a password; they are dropped from the outbox
// once the message is sent.
var linkSecrets = []string{"manage_url"}

// HoldConfirmation writes the confirmation, with the manage link, ahead of the confirmation.
func (o *Outbox) HoldConfirmation(ctx context.Context, p pledge.Pledge, manageToken string) error {
	data, _, err := o.pledgeData(ctx, p)
	if err != nil {
		return err
	}
	data["manage_url"] = o.link("/pledges/"+p.ID+"/manage", url.Values{"token": {manageToken}})
	now := o.now()
	return o.store.HoldMessage(ctx, Message{ID: confirmationID(p.ID), Kind: PledgeConfirmed, To: p.Backer.Email,
		Lang: langOf(p.Locale), Data: data, Status: StatusHeld, DueAt: now, CreatedAt: now})
}

// backerNews is what moving from prev to next tells the backer.
func backerNews(prev, next pledge.Pledge) []Kind {
	var out []Kind
	switch {
	case prev.Status == pledge.StatusPending && (next.Status == pledge.StatusActive || next.Status == pledge.StatusCollected):
		out = append(out, PledgeConfirmed)
	case next.Status == pledge.StatusCancelled && prev.Status != pledge.StatusCancelled && prev.Status != pledge.StatusPending:
		// A pledge never confirmed was never announced: its end is not news either.
		out = append(out, PledgeCancelled)
	case prev.Status == pledge.StatusActive && next.Status == pledge.StatusCharging:
		// The first deadline charge: later attempts start from payment_failed.
		out = append(out, CampaignSucceeded)
	case prev.Status == pledge.StatusActive && next.Status == pledge.StatusVoid:
		out = append(out, CampaignFailed)
	case prev.Status == pledge.StatusCharging && next.Status == pledge.StatusPaymentFailed && prev.FirstFailedAt == nil:
		// The first decline; reminders while the retries run are a later slice.
		out = append(out, ChargeFailed)
	}
	if next.AmountRefunded > prev.AmountRefunded {
		out = append(out, RefundIssued)
	}
	return out
}

// PledgeChanged writes what a stored change of a pledge tells its backer.
func (o *Outbox) PledgeChanged(ctx context.Context, prev, next pledge.Pledge) error {
	kinds := backerNews(prev, next)
	if len(kinds) == 0 {
		return nil
	}
	data, camp, err := o.pledgeData(ctx, next)
	if err != nil {
		return err
	}
	l := locale.Negotiate(langOf(next.Locale), "")
	now := o.now()
	for _, k := range kinds {
		d := clone(data)
		switch k {
		case PledgeConfirmed:
			if err := o.store.ReleaseMessage(ctx, confirmationID(next.ID), d, now); err != nil {
				return err
			}
			continue
		case ChargeFailed:
			d["decline"] = l.T(declineKey(next.LastFailure))
		case CampaignFailed:
			if camp.Status == campaign.StatusCancelled {
				// Voided because the campaign was cancelled, not because it missed its goal:
				// telling that is a message of its own (a later slice).
				continue
			}
		case RefundIssued:
			d["refund"] = l.Money(money.Money{Amount: next.AmountRefunded - prev.AmountRefunded, Currency: next.Amount.Currency})
		}
		m := Message{ID: changeID(next.ID, next.Version, k), Kind: k, To: next.Backer.Email, Lang: l.Lang,
			Data: d, Status: StatusQueued, DueAt: now, CreatedAt: now}
		if err := o.store.EnqueueMessage(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// CampaignMoved writes the designer's message about a review step.
func (o *Outbox) CampaignMoved(ctx context.Context, prev, next campaign.Campaign, a campaign.Action, reason string) error {
	var k Kind
	switch a {
	case campaign.ActionApprove:
		k = CampaignApproved
	case campaign.ActionReject:
		k = CampaignRejected
	default:
		return nil
	}
	designer, err := o.store.FindUserByID(ctx, next.DesignerID)
	if err != nil {
		return fmt.Errorf("designer of campaign %s: %w", next.ID, err)
	}
	now := o.now()
	// Designers have no language in their profile yet: they read the default one.
	return o.store.EnqueueMessage(ctx, Message{ID: changeID(next.ID, next.Version, k), Kind: k, To: designer.Email,
		Lang: locale.Languages[0], Status: StatusQueued, DueAt: now, CreatedAt: now,
		Data: map[string]string{"name": designer.Name, "campaign": next.Title, "reason": reason,
			"campaign_url": o.link("/api/v1/campaigns/"+next.ID, nil)}})
}

// pledgeData is what every backer's message may show about her pledge.
func (o *Outbox) pledgeData(ctx context.Context, p pledge.Pledge) (map[string]string, campaign.Campaign, error) {
	c, err := o.store.FindCampaign(ctx, p.CampaignID)
	if err != nil {
		return nil, c, fmt.Errorf("campaign of pledge %s: %w", p.ID, err)
	}
	l := locale.Negotiate(langOf(p.Locale), "")
	reward := l.T("email.no_reward")
	if p.TierID != "" {
		t, err := o.store.FindTier(ctx, c.ID, p.TierID)
		if err != nil {
			return nil, c, fmt.Errorf("tier of pledge %s: %w", p.ID, err)
		}
		reward = t.Title
	}
	zone, err := time.LoadLocation(c.Timezone)
	if err != nil {
		zone = time.UTC
	}
	charged := l.T("email.charged_now")
	if p.FundingModel == campaign.AllOrNothing {
		charged = l.T("email.charged_at_deadline", l.Date(c.Deadline, zone))
	}
	pledgeURL := o.link("/pledges/"+p.ID, nil)
	return map[string]string{
		"name": p.Backer.Name, "campaign": c.Title, "reward": reward, "amount": l.Money(p.Amount),
		"charged": charged, "pledge_url": pledgeURL, "fix_url": pledgeURL,
		"campaign_url": o.link("/campaigns/"+url.PathEscape(c.Slug), nil),
	}, c, nil
}

func (o *Outbox) link(path string, q url.Values) string {
	if len(q) > 0 {
		return o.publicURL + path + "?" + q.Encode()
	}
	return o.publicURL + path
}

// declineKey is the catalogue key that says a decline in plain words; Stripe's own message is
// never shown (it may name the card).
func declineKey(f *pledge.Failure) string {
	if f == nil {
		return "decline.generic"
	}
	for _, code := range []string{f.DeclineCode, f.Code} {
		switch code {
		case "insufficient_funds", "expired_card", "authentication_required", "incorrect_cvc":
			return "decline." + code
		}
	}
	return "decline.generic"
}

func langOf(l string) string {
	if locale.Supported(l) {
		return l
	}
	return locale.Languages[0]
}

func clone(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}
