package pledge

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
)

// FulfilmentStatus is where a backer's reward is after the campaign succeeded.
type FulfilmentStatus string

const (
	// Physical rewards: to_ship → shipped (carrier, tracking) → delivered.
	FulfilToShip    FulfilmentStatus = "to_ship"
	FulfilShipped   FulfilmentStatus = "shipped"
	FulfilDelivered FulfilmentStatus = "delivered"
	// Experiences: booked → attended or no_show.
	FulfilBooked   FulfilmentStatus = "booked"
	FulfilAttended FulfilmentStatus = "attended"
	FulfilNoShow   FulfilmentStatus = "no_show"
	// Digital rewards: to_send → sent.
	FulfilToSend FulfilmentStatus = "to_send"
	FulfilSent   FulfilmentStatus = "sent"
)

// fulfilmentSteps are the statuses each kind of reward goes through, in order.
var fulfilmentSteps = map[campaign.TierKind][]FulfilmentStatus{
	campaign.KindPhysical:   {FulfilToShip, FulfilShipped, FulfilDelivered},
	campaign.KindExperience: {FulfilBooked, FulfilAttended, FulfilNoShow},
	campaign.KindDigital:    {FulfilToSend, FulfilSent},
}

// FulfilmentSteps are the statuses a reward of kind goes through, in order (a copy: the
// designers' console offers them as choices, the rules stay here).
func FulfilmentSteps(kind campaign.TierKind) []FulfilmentStatus {
	return slices.Clone(fulfilmentSteps[kind])
}

// Fulfilment is how a pledge's reward reached (or is reaching) its backer.
type Fulfilment struct {
	Status         FulfilmentStatus `bson:"status" json:"status"`
	Carrier        string           `bson:"carrier,omitempty" json:"carrier,omitempty"`
	TrackingNumber string           `bson:"tracking_number,omitempty" json:"tracking_number,omitempty"`
	TrackingURL    string           `bson:"tracking_url,omitempty" json:"tracking_url,omitempty"`
	UpdatedAt      *time.Time       `bson:"updated_at,omitempty" json:"updated_at,omitempty"`
	UpdatedBy      string           `bson:"updated_by,omitempty" json:"-"`
}

// FulfilmentChange is what a designer sends for one pledge.
type FulfilmentChange struct {
	Status         FulfilmentStatus `json:"status"`
	Carrier        string           `json:"carrier"`
	TrackingNumber string           `json:"tracking_number"`
	TrackingURL    string           `json:"tracking_url"`
}

// Limits on fulfilment text.
const (
	MaxCarrier  = 60
	MaxTracking = 100
	MaxURL      = 500
)

// trackingPages are the tracking pages of carriers designers use most, so a tracking number alone
// gives the backer a link; any other carrier's link is sent with the row.
var trackingPages = map[string]string{
	"swiss post": "https://service.post.ch/ekp-web/ui/entry/search/%s",
	"la poste":   "https://www.laposte.fr/outils/suivre-vos-envois?code=%s",
	"dhl":        "https://www.dhl.com/ch-en/home/tracking.html?tracking-id=%s",
	"ups":        "https://www.ups.com/track?tracknum=%s",
	"fedex":      "https://www.fedex.com/fedextrack/?trknbr=%s",
}

// FulfilmentOf is a pledge's fulfilment as it stands: its recorded one, or the first step for its
// kind of reward once the campaign owes it (zero when it owes nothing).
func FulfilmentOf(p Pledge, kind campaign.TierKind) Fulfilment {
	if p.Fulfilment != nil {
		return *p.Fulfilment
	}
	if steps := fulfilmentSteps[kind]; p.TierID != "" && p.Status.Charged() && len(steps) > 0 {
		return Fulfilment{Status: steps[0]}
	}
	return Fulfilment{}
}

// fulfil checks a change of p's fulfilment and returns the fulfilment to record. It is refused
// for a pledge that owes no reward (no tier, or no money collected, or all of it refunded).
func fulfil(p Pledge, kind campaign.TierKind, ch FulfilmentChange, actor string, now time.Time) (Fulfilment, error) {
	if p.TierID == "" {
		return Fulfilment{}, backstitch.Errorf(backstitch.CodeInvalidState, "This pledge has no reward to fulfil.")
	}
	if p.Status != StatusCollected && p.Status != StatusPartiallyRefunded {
		return Fulfilment{}, backstitch.Errorf(backstitch.CodeInvalidState, "This pledge is %s: only a collected pledge's reward is fulfilled.", p.Status)
	}
	steps := fulfilmentSteps[kind]
	var errs backstitch.FieldErrors
	if !slices.Contains(steps, ch.Status) {
		errs.Add("status", "invalid", fmt.Sprintf("a %s reward's status is one of %s", kind, joinSteps(steps)))
		return Fulfilment{}, errs.Err()
	}
	f := Fulfilment{Status: ch.Status}
	f.Carrier = backstitch.CheckLine(&errs, "carrier", ch.Carrier, 0, MaxCarrier)
	f.TrackingNumber = backstitch.CheckLine(&errs, "tracking_number", ch.TrackingNumber, 0, MaxTracking)
	if ch.TrackingURL != "" {
		if u, err := url.Parse(ch.TrackingURL); err != nil || u.Scheme != "https" || u.Host == "" || len(ch.TrackingURL) > MaxURL {
			errs.Add("tracking_url", "invalid", "tracking_url must be an https URL")
		} else {
			f.TrackingURL = ch.TrackingURL
		}
	}
	if err := errs.Err(); err != nil {
		return Fulfilment{}, err
	}
	cur := FulfilmentOf(p, kind)
	switch {
	case kind == campaign.KindPhysical && ch.Status == FulfilToShip:
		f.Carrier, f.TrackingNumber, f.TrackingURL = "", "", ""
	case kind == campaign.KindPhysical:
		if f.Carrier == "" && f.TrackingNumber == "" && cur.Status != FulfilToShip {
			// "delivered" alone keeps the tracking the parcel shipped with.
			f.Carrier, f.TrackingNumber, f.TrackingURL = cur.Carrier, cur.TrackingNumber, cur.TrackingURL
		}
		if f.Carrier == "" || f.TrackingNumber == "" {
			errs.Add("tracking_number", "required", "a shipped parcel needs its carrier and tracking number")
		}
		if page, ok := trackingPages[strings.ToLower(f.Carrier)]; ok && f.TrackingURL == "" && f.TrackingNumber != "" {
			f.TrackingURL = fmt.Sprintf(page, url.PathEscape(f.TrackingNumber))
		}
	case f.Carrier != "" || f.TrackingNumber != "" || f.TrackingURL != "":
		errs.Add("carrier", "invalid", "only rewards that ship have a carrier and tracking")
	}
	if err := errs.Err(); err != nil {
		return Fulfilment{}, err
	}
	if sameFulfilment(cur, f) {
		return cur, nil
	}
	f.UpdatedAt, f.UpdatedBy = &now, actor
	return f, nil
}

func sameFulfilment(a, b Fulfilment) bool {
	return a.Status == b.Status && a.Carrier == b.Carrier && a.TrackingNumber == b.TrackingNumber && a.TrackingURL == b.TrackingURL
}

func joinSteps(steps []FulfilmentStatus) string {
	s := make([]string, len(steps))
	for i, st := range steps {
		s[i] = string(st)
	}
	return strings.Join(s, ", ")
}

// SetFulfilment records how a pledge of campaign camp (already checked to be the caller's) is
// fulfilled. Setting what is already recorded changes nothing, so a replay is harmless. The
// write is a compare-and-set through transition; the pledge's money and units do not move.
func (s *Service) SetFulfilment(ctx context.Context, camp campaign.Campaign, pledgeID string, ch FulfilmentChange, actor string) (Pledge, bool, error) {
	changed := false
	p, err := retryOnConflict(func() (Pledge, error) {
		p, err := s.store.FindPledge(ctx, pledgeID)
		if err == nil && p.CampaignID != camp.ID {
			err = backstitch.Errorf(backstitch.CodeNotFound, "Pledge not found.")
		}
		if err != nil {
			return p, err
		}
		tier, err := s.store.FindTier(ctx, camp.ID, p.TierID)
		if err != nil && p.TierID != "" {
			return p, err
		}
		var next Pledge
		next, changed, err = s.withFulfilment(p, tier.Kind, ch, actor)
		if err != nil || !changed {
			return p, err
		}
		return s.transition(ctx, p, next, transitionOpts{})
	})
	return p, changed, err
}

// withFulfilment is p with ch applied, and whether that changes anything.
func (s *Service) withFulfilment(p Pledge, kind campaign.TierKind, ch FulfilmentChange, actor string) (Pledge, bool, error) {
	f, err := fulfil(p, kind, ch, actor, s.now())
	if err != nil {
		return p, false, err
	}
	if sameFulfilment(FulfilmentOf(p, kind), f) {
		return p, false, nil
	}
	next := p
	next.Fulfilment = &f
	next.UpdatedAt = s.now()
	return next, true, nil
}
