package web

import (
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/money"
	"github.com/backstitch/backstitch/internal/pledge"
)

const manageTokenHeader = "X-Manage-Token"

type pledgeView struct {
	ID              string                `json:"id"`
	CampaignID      string                `json:"campaign_id"`
	TierID          *string               `json:"tier_id"`
	Options         map[string]string     `json:"options,omitempty"`
	SessionID       string                `json:"session_id,omitempty"`
	Shipping        *money.Money          `json:"shipping,omitempty"`
	Items           *pledgeItems          `json:"items,omitempty"`
	Status          pledge.Status         `json:"status"`
	Amount          money.Money           `json:"amount"`
	Backer          pledge.Backer         `json:"backer"`
	ShippingAddress *pledge.Address       `json:"shipping_address,omitempty"`
	Note            string                `json:"note,omitempty"`
	ClientSecret    string                `json:"client_secret,omitempty"`
	PublishableKey  string                `json:"publishable_key"`
	ManageToken     string                `json:"manage_token,omitempty"`
	ActionRequired  bool                  `json:"action_required,omitempty"`
	LastFailure     *pledge.Failure       `json:"last_failure,omitempty"`
	AmountRefunded  *money.Money          `json:"amount_refunded,omitempty"`
	Dispute         *pledge.Dispute       `json:"dispute,omitempty"`
	HoldExpiresAt   *time.Time            `json:"hold_expires_at,omitempty"`
	CreatedAt       time.Time             `json:"created_at"`
	UpdatedAt       time.Time             `json:"updated_at"`
	History         []pledge.HistoryEntry `json:"history"`
	// Fulfilment is how the reward is reaching the backer, once the designer recorded it.
	Fulfilment *pledge.Fulfilment `json:"fulfilment,omitempty"`
	ErasedAt   *time.Time         `json:"erased_at,omitempty"`
}

// pledgeItems itemises a pledge's amount: the reward, its shipping, and what the backer added.
type pledgeItems struct {
	Price    money.Money `json:"price"`
	Shipping money.Money `json:"shipping"`
	Extra    money.Money `json:"extra"`
}

// viewPledge shows a pledge to the holder of its manage token. Stripe customer and payment method
// ids are never shown: the client secret is all a browser needs.
func (s *Server) viewPledge(p pledge.Pledge) pledgeView {
	v := pledgeView{ID: p.ID, CampaignID: p.CampaignID, Status: p.Status, Amount: p.Amount, Backer: p.Backer, Note: p.Note,
		ShippingAddress: p.ShippingAddress, PublishableKey: s.payments.PublishableKey(), LastFailure: p.LastFailure,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, History: p.History, Fulfilment: p.Fulfilment, ErasedAt: p.ErasedAt}
	if p.TierID != "" {
		v.TierID = &p.TierID
		v.Options, v.SessionID = p.Options, p.SessionID
		cur := p.Amount.Currency
		v.Shipping = &money.Money{Amount: p.Shipping, Currency: cur}
		v.Items = &pledgeItems{Price: money.Money{Amount: p.RewardPrice, Currency: cur}, Shipping: *v.Shipping,
			Extra: money.Money{Amount: p.Amount.Amount - p.RewardPrice - p.Shipping, Currency: cur}}
	}
	if p.AmountRefunded > 0 {
		v.AmountRefunded = &money.Money{Amount: p.AmountRefunded, Currency: p.Amount.Currency}
	}
	v.Dispute = p.Dispute
	if p.Status == pledge.StatusPending {
		v.ClientSecret = p.ClientSecret
		v.HoldExpiresAt = &p.HoldExpiresAt
	}
	return v
}

func (s *Server) createPledge(c *fiber.Ctx) error {
	scope, _ := c.Locals(localIdempotencyScope).(string)
	if scope == "" {
		return backstitch.Errorf(backstitch.CodeIdempotencyKeyRequired, "Send an Idempotency-Key header (a new random value per pledge) so a retry can never pledge twice.")
	}
	var in pledge.Request
	if err := decode(c, &in); err != nil {
		return err
	}
	if in.Locale == "" {
		// Messages about the pledge go out in the language the client asked for.
		in.Locale = locale.Negotiate("", c.Get(fiber.HeaderAcceptLanguage)).Lang
	}
	// Counted in memory and flushed: across instances the limit may let through what other
	// instances admitted within one flush interval, which a brake on card testing can spare
	// (README, Rate limits); one instance refuses past it at once. A retry answered from its
	// pledge is not counted (Origin.Admit).
	o := s.pledgeOrigin(c)
	o.Admit = func() error { return s.pledgeLimit.Hit(c.UserContext(), c.IP()) }
	created, err := s.pledges.Create(c.UserContext(), o, c.Params("id"), in)
	if err != nil {
		return err
	}
	return s.replyPledgeCreated(c, created)
}

// pledgeOrigin is the pledge request's idempotency scope, body hash and key, as the idempotent
// middleware set them.
func (s *Server) pledgeOrigin(c *fiber.Ctx) pledge.Origin {
	scope, _ := c.Locals(localIdempotencyScope).(string)
	requestHash, _ := c.Locals(localRequestHash).(string)
	camp, _ := c.Locals(localCampaign).(*campaign.Campaign)
	return pledge.Origin{Scope: scope, RequestHash: requestHash, Campaign: camp,
		Sealer: keySealer{clientKey: c.Get("Idempotency-Key"), recordID: scope}, ReplayFor: s.cfg.IdempotencyTTL}
}

// replyPledgeCreated answers a pledge's creation, or a retry of it from the pledge its first run
// made (its manage token sealed under the client's key).
func (s *Server) replyPledgeCreated(c *fiber.Ctx, created pledge.Created) error {
	v := s.viewPledge(created.Pledge)
	v.ManageToken = created.ManageToken
	if created.Replayed {
		c.Set("Idempotent-Replayed", "true")
	}
	return reply(c, http.StatusCreated, v)
}

func (s *Server) showPledge(c *fiber.Ctx) error {
	p, err := s.pledges.Manage(c.UserContext(), c.Params("id"), c.Get(manageTokenHeader))
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, s.viewPledge(p))
}

type confirmInput struct {
	PaymentMethod string `json:"payment_method"`
}

func (s *Server) confirmPledge(c *fiber.Ctx) error {
	var in confirmInput
	if err := decode(c, &in); err != nil {
		return err
	}
	res, err := s.pledges.Confirm(c.UserContext(), c.Params("id"), c.Get(manageTokenHeader), in.PaymentMethod)
	if err != nil {
		return err
	}
	v := s.viewPledge(res.Pledge)
	v.ActionRequired = res.ActionRequired
	return reply(c, http.StatusOK, v)
}

func (s *Server) changePledge(c *fiber.Ctx) error {
	var in pledge.Change
	if err := decode(c, &in); err != nil {
		return err
	}
	p, err := s.pledges.Update(c.UserContext(), c.Params("id"), c.Get(manageTokenHeader), in)
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, s.viewPledge(p))
}

func (s *Server) cancelPledge(c *fiber.Ctx) error {
	p, err := s.pledges.Cancel(c.UserContext(), c.Params("id"), c.Get(manageTokenHeader))
	if err != nil {
		return err
	}
	return reply(c, http.StatusOK, s.viewPledge(p))
}

// adminPledgeView adds what admins reconcile with: Stripe's object ids.
type adminPledgeView struct {
	pledgeView
	CustomerID      string `json:"stripe_customer_id,omitempty"`
	SetupIntentID   string `json:"stripe_setup_intent_id,omitempty"`
	PaymentIntentID string `json:"stripe_payment_intent_id,omitempty"`
	PaymentMethodID string `json:"stripe_payment_method_id,omitempty"`
	ConfirmAttempts int    `json:"confirm_attempts"`
}

// adminShowPledge shows any pledge to an admin, with its Stripe ids and the last decline reason.
func (s *Server) adminShowPledge(c *fiber.Ctx) error {
	p, err := s.store.FindPledge(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	v := adminPledgeView{pledgeView: s.viewPledge(p), CustomerID: p.CustomerID, SetupIntentID: p.SetupIntentID,
		PaymentIntentID: p.PaymentIntentID, PaymentMethodID: p.PaymentMethodID, ConfirmAttempts: p.ConfirmAttempts}
	v.ClientSecret = ""
	return reply(c, http.StatusOK, v)
}

type refundInput struct {
	// Amount is the API's money object; omitted, the refund is of all that is left.
	Amount *money.Money `json:"amount"`
	Reason string       `json:"reason"`
}

// adminRefund refunds a pledge (all that is left, or a part) and audits it.
func (s *Server) adminRefund(c *fiber.Ctx) error {
	var in refundInput
	if err := decode(c, &in); err != nil {
		return err
	}
	sess, _ := session(c)
	after, err := s.recon.Admin.Refund(c.UserContext(), sess.UserID, c.Params("id"), in.Amount, in.Reason)
	if err != nil {
		return err
	}
	return reply(c, http.StatusCreated, s.viewPledge(after))
}
