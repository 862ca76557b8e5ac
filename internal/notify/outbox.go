package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"time"

	"github.com/backstitch/backstitch/internal/account"
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
	fixToken  func(ctx context.Context, pledgeID string) (string, error)
	manage    func(ctx context.Context, p pledge.Pledge) (string, error)
	dunning   time.Duration
}

var (
	_ pledge.Notices   = (*Outbox)(nil)
	_ campaign.Notices = (*Outbox)(nil)
)

// NewOutbox builds the outbox; links in messages start with publicURL (BACKSTITCH_PUBLIC_URL).
func NewOutbox(store Store, publicURL string, now backstitch.Clock) *Outbox {
	return &Outbox{store: store, publicURL: publicURL, now: now}
}

// TellDunningWindow sets the dunning window (BACKSTITCH_DUNNING_WINDOW) the designer's
// campaign-ended message gives declined cards, in words; set before serving.
func (o *Outbox) TellDunningWindow(d time.Duration) { o.dunning = d }

// LinkFixes sets where the token of a pledge's fix-payment link comes from (the pledge
// service), so the message about a failed charge opens the page where the backer pays with
// another card, on any device; set before serving. Without it the message links to the pledge's
// page, which opens only in a browser that followed the confirmation's link before.
func (o *Outbox) LinkFixes(token func(ctx context.Context, pledgeID string) (string, error)) {
	o.fixToken = token
}

// LinkManage sets where the manage token a pledge's confirmation links comes from (the pledge
// service opens the one sealed in the pledge); set before serving. Without it, or for a pledge
// that carries none, the confirmation links the pledge's page.
func (o *Outbox) LinkManage(token func(ctx context.Context, p pledge.Pledge) (string, error)) {
	o.manage = token
}

// confirmationID is the id of a pledge's confirmation: one per pledge, whichever path confirms
// it (the API, the webhook, the Checkout return), so paths that race write it once.
func confirmationID(pledgeID string) string { return "msg_" + pledgeID + ".confirmed" }

// changeID names the message a stored change causes: the document and the version the change
// wrote identify the change, so whoever repeats it (a retry, the webhook after the response)
// arrives at the same id.
func changeID(docID string, version int64, k Kind) string {
	return fmt.Sprintf("msg_%s.v%d.%s", docID, version, k)
}

// linkSecrets are data that open something without a password; they are dropped from the outbox
// once the message is sent.
var linkSecrets = []string{"manage_url", "reset_url", "fix_url", "invite_url"}

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
		// Told as a missed goal or as a cancellation, whichever the campaign says (Deliver).
		out = append(out, CampaignFailed)
	case prev.Status == pledge.StatusCharging && next.Status == pledge.StatusPaymentFailed && prev.FirstFailedAt == nil:
		out = append(out, ChargeFailed)
	case prev.Status == pledge.StatusCharging && next.Status == pledge.StatusPaymentFailed:
		// A scheduled retry declined too: the reminders follow the retries' schedule.
		out = append(out, ChargeReminder)
	case next.Status == pledge.StatusDropped && prev.Status != pledge.StatusDropped:
		out = append(out, PledgeDropped)
	case prev.Status == next.Status && next.Status.Counted() &&
		(prev.TierID != next.TierID || prev.Amount != next.Amount || prev.StockID != next.StockID || prev.SessionID != next.SessionID):
		out = append(out, PledgeChanged)
	}
	if next.AmountRefunded > prev.AmountRefunded {
		out = append(out, RefundIssued)
	}
	return out
}

// News is what moving from prev to next owes the backer, with what only the change knows.
func (o *Outbox) News(prev, next pledge.Pledge) []backstitch.Notice {
	kinds := backerNews(prev, next)
	if len(kinds) == 0 {
		return nil
	}
	l := locale.Negotiate(langOf(next.Locale), "")
	out := make([]backstitch.Notice, 0, len(kinds))
	for _, k := range kinds {
		n := backstitch.Notice{ID: changeID(next.ID, prev.Version+1, k), Kind: string(k)}
		switch k {
		case PledgeConfirmed:
			n.ID = confirmationID(next.ID)
		case ChargeFailed, ChargeReminder:
			n.Data = map[string]string{"decline": l.T(locale.DeclineKey(failureCodes(next.LastFailure)))}
		case PledgeChanged:
			// As it was changed, not as a later change may leave it.
			n.Data = map[string]string{"amount": l.Money(next.Amount)}
		case RefundIssued:
			n.Data = map[string]string{"refund": l.Money(money.Money{Amount: next.AmountRefunded - prev.AmountRefunded, Currency: next.Amount.Currency})}
		}
		out = append(out, n)
	}
	return out
}

// Deliver writes an owed notice of p to the outbox. Its id is the change's, so delivering it
// again (a retry, the sweeper, two sweepers at once) finds it there and writes nothing.
func (o *Outbox) Deliver(ctx context.Context, p pledge.Pledge, n backstitch.Notice) error {
	data, camp, err := o.pledgeData(ctx, p)
	if err != nil {
		return err
	}
	for k, v := range n.Data {
		data[k] = v
	}
	now := o.now()
	k := Kind(n.Kind)
	switch k {
	case PledgeConfirmed:
		// The manage link is the token the backer was shown when she pledged, kept sealed in the
		// pledge until now: the pledge service drops the seal once this message is written.
		if o.manage != nil {
			token, err := o.manage(ctx, p)
			if err != nil {
				return err
			}
			if token != "" {
				data["manage_url"] = o.link("/pledges/"+p.ID+"/manage", url.Values{"token": {token}})
			}
		}
		if data["manage_url"] == "" {
			data["manage_url"] = data["pledge_url"]
		}
		if err := o.store.EnqueueMessage(ctx, Message{ID: n.ID, Kind: k, To: p.Backer.Email, Lang: langOf(p.Locale),
			Data: data, Status: StatusQueued, DueAt: now, CreatedAt: now}); err != nil {
			return err
		}
		return o.designerNews(ctx, camp)
	case ChargeFailed, ChargeReminder:
		// The fix-payment link is made here, not kept with the owed notice on the pledge: it
		// opens the pledge, and lives only in the outbox until the message is sent.
		if o.fixToken != nil {
			token, err := o.fixToken(ctx, p.ID)
			if err != nil {
				return err
			}
			data["fix_url"] = o.link("/pledges/"+p.ID+"/manage", url.Values{"token": {token}})
		}
	case CampaignFailed:
		if camp.Status == campaign.StatusCancelled {
			// Voided because the campaign was cancelled, not because it missed its goal.
			k = CampaignCancelled
			data["reason"] = ""
			if camp.Cancellation != nil {
				data["reason"] = camp.Cancellation.Reason
			}
		}
	}
	return o.store.EnqueueMessage(ctx, Message{ID: n.ID, Kind: k, To: p.Backer.Email, Lang: langOf(p.Locale),
		Data: data, Status: StatusQueued, DueAt: now, CreatedAt: now})
}

// designerNews tells a designer of her campaign's first pledge and of its goal reached, once each
// per campaign (their ids are the campaign's), when a pledge is confirmed.
func (o *Outbox) designerNews(ctx context.Context, c campaign.Campaign) error {
	// Read again: the counters moved with the pledge just confirmed.
	c, err := o.store.FindCampaign(ctx, c.ID)
	if err != nil {
		return fmt.Errorf("campaign %s: %w", c.ID, err)
	}
	kinds := []Kind{FirstPledge}
	if c.Goal.Amount > 0 && c.Pledged >= c.Goal.Amount {
		kinds = append(kinds, GoalReached)
	}
	for _, k := range kinds {
		id := campaignOnceID(c.ID, k)
		if _, err := o.store.FindMessage(ctx, id); err == nil {
			continue // told already: spare reading her profile
		}
		err := o.toDesigner(ctx, c, id, k, func(l locale.Locale) map[string]string {
			return map[string]string{"pledged": l.Money(money.Money{Amount: c.Pledged, Currency: c.Goal.Currency}),
				"goal": l.Money(c.Goal), "backers": l.Plural("campaign.backers", int64(c.BackersCount))}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// CampaignNews is what a step of a campaign owes its designer.
func (o *Outbox) CampaignNews(prev, next campaign.Campaign, a campaign.Action, reason string) []backstitch.Notice {
	kinds := map[campaign.Action]Kind{campaign.ActionSubmit: CampaignSubmitted, campaign.ActionApprove: CampaignApproved,
		campaign.ActionReject: CampaignRejected, campaign.ActionLaunch: CampaignLaunched}
	k, ok := kinds[a]
	if !ok {
		return nil
	}
	n := backstitch.Notice{ID: changeID(next.ID, prev.Version+1, k), Kind: string(k)}
	if k == CampaignRejected {
		n.Data = map[string]string{"reason": reason}
	}
	return []backstitch.Notice{n}
}

// SettlementNews is what a settlement step owes: the designer hears how her campaign ended, and
// when she is paid; a flexible campaign's backers hear it ended (an all-or-nothing one's hear it
// from their pledges' own changes).
func (o *Outbox) SettlementNews(prev, next campaign.Campaign) []backstitch.Notice {
	var kinds []Kind
	if prev.Status == campaign.StatusLive && (next.Status == campaign.StatusSucceeded || next.Status == campaign.StatusFailed) {
		kinds = append(kinds, CampaignEnded)
		if next.Status == campaign.StatusSucceeded && next.FundingModel == campaign.Flexible {
			kinds = append(kinds, FlexibleSucceeded)
		}
	}
	if next.Settlement != nil && next.Settlement.PaidOutAt != nil && (prev.Settlement == nil || prev.Settlement.PaidOutAt == nil) {
		kinds = append(kinds, PayoutSent)
	}
	out := make([]backstitch.Notice, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, backstitch.Notice{ID: changeID(next.ID, prev.Version+1, k), Kind: string(k)})
	}
	return out
}

// DeliverCampaign writes an owed notice of c to the outbox; its id is the step's. What it says is
// read from what the step settled (the figures at the deadline, the transfers made), which no
// later step changes.
func (o *Outbox) DeliverCampaign(ctx context.Context, c campaign.Campaign, n backstitch.Notice) error {
	switch k := Kind(n.Kind); k {
	case FlexibleSucceeded, CampaignEnded:
		if c.Settlement == nil {
			return fmt.Errorf("campaign %s ended without a settlement", c.ID)
		}
		if k == FlexibleSucceeded {
			return o.tellBackers(ctx, c, k)
		}
		outcome := "email.campaign_ended.failed"
		switch {
		case c.Status == campaign.StatusSucceeded && c.FundingModel == campaign.Flexible:
			outcome = "email.campaign_ended.flexible"
		case c.Status == campaign.StatusSucceeded:
			outcome = "email.campaign_ended.succeeded"
		}
		return o.toDesigner(ctx, c, n.ID, k, func(l locale.Locale) map[string]string {
			said := l.T(outcome)
			if outcome == "email.campaign_ended.succeeded" {
				said = l.T(outcome, l.Span(o.dunning))
			}
			return map[string]string{"outcome": said, "goal": l.Money(c.Goal), "backers": l.Plural("campaign.backers", int64(c.Settlement.BackersAtDeadline)),
				"pledged": l.Money(money.Money{Amount: c.Settlement.PledgedAtDeadline, Currency: c.Goal.Currency})}
		})
	case PayoutSent:
		var paid int64
		err := o.store.FindCampaignPledges(ctx, c.ID, func(p pledge.Pledge) error {
			paid += p.TransferAmount
			return nil
		})
		if err != nil {
			return fmt.Errorf("transfers of campaign %s: %w", c.ID, err)
		}
		return o.toDesigner(ctx, c, n.ID, k, func(l locale.Locale) map[string]string {
			return map[string]string{"paid": l.Money(money.Money{Amount: paid, Currency: c.Goal.Currency})}
		})
	case CampaignSubmitted:
		// Admins hear it too, keyed by the same step: the review digest comes once a day, this
		// at once.
		if err := o.adminSubmitted(ctx, c, n.ID); err != nil {
			return err
		}
		return o.toDesigner(ctx, c, n.ID, k, func(locale.Locale) map[string]string { return n.Data })
	default:
		return o.toDesigner(ctx, c, n.ID, k, func(locale.Locale) map[string]string { return n.Data })
	}
}

// tellBackers queues a message of kind k to each backer whose pledge was charged, keyed by her
// pledge: handing it over again (a sweeper finishing what a dead settler began) skips those
// written already.
func (o *Outbox) tellBackers(ctx context.Context, c campaign.Campaign, k Kind) error {
	var pledges []pledge.Pledge
	err := o.store.FindCampaignPledges(ctx, c.ID, func(p pledge.Pledge) error {
		if p.Status.Charged() && p.ErasedAt == nil {
			pledges = append(pledges, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("backers of campaign %s: %w", c.ID, err)
	}
	for _, p := range pledges {
		data, _, err := o.pledgeData(ctx, p)
		if err != nil {
			return err
		}
		l := locale.Negotiate(langOf(p.Locale), "")
		data["raised"] = l.Money(money.Money{Amount: c.Settlement.PledgedAtDeadline, Currency: c.Goal.Currency})
		now := o.now()
		if err := o.store.EnqueueMessage(ctx, Message{ID: "msg_" + p.ID + "." + string(k), Kind: k, To: p.Backer.Email,
			Lang: l.Lang, Data: data, Status: StatusQueued, DueAt: now, CreatedAt: now}); err != nil {
			return err
		}
	}
	return nil
}

// toDesigner queues message id of kind k to c's designer, in her language, with extra (written
// for her language) on top of what every designer's message shows.
func (o *Outbox) toDesigner(ctx context.Context, c campaign.Campaign, id string, k Kind, extra func(locale.Locale) map[string]string) error {
	designer, err := o.store.FindUserByID(ctx, c.DesignerID)
	if err != nil {
		return fmt.Errorf("designer of campaign %s: %w", c.ID, err)
	}
	l := locale.Negotiate(langOf(designer.Locale), "")
	data := map[string]string{"name": designer.Name, "campaign": c.Title,
		"campaign_url": o.link("/designer/campaigns/"+url.PathEscape(c.ID), nil)}
	for key, v := range extra(l) {
		data[key] = v
	}
	now := o.now()
	return o.store.EnqueueMessage(ctx, Message{ID: id, Kind: k, To: designer.Email, Lang: l.Lang,
		Status: StatusQueued, DueAt: now, CreatedAt: now, Data: data})
}

// campaignOnceID names a message a campaign gets once in its life (its first pledge).
func campaignOnceID(campaignID string, k Kind) string { return "msg_" + campaignID + "." + string(k) }

// SendPasswordReset queues a password reset link to u. resetID names the reset (the stored
// token's id), so one reset makes one message; the link is dropped from the outbox once sent.
func (o *Outbox) SendPasswordReset(ctx context.Context, u account.User, resetID, link string) error {
	now := o.now()
	// The reset's id is the hash the store looks the token up by: hashed again for the header.
	sum := sha256.Sum256([]byte("message\x00" + resetID))
	return o.store.EnqueueMessage(ctx, Message{ID: "msg_reset_" + hex.EncodeToString(sum[:12]), Kind: PasswordReset,
		To: u.Email, Lang: langOf(u.Locale), Status: StatusQueued, DueAt: now, CreatedAt: now,
		Data: map[string]string{"name": u.Name, "reset_url": link}})
}

// pledgeData is what every backer's message may show about her pledge, with its campaign.
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

// failureCodes are Stripe's codes of a decline (none when there is no failure on record).
func failureCodes(f *pledge.Failure) (code, declineCode string) {
	if f == nil {
		return "", ""
	}
	return f.Code, f.DeclineCode
}

func langOf(l string) string {
	if locale.Supported(l) {
		return l
	}
	return locale.Languages[0]
}
