package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/backstitch/backstitch/bench/internal/double"
	"github.com/backstitch/backstitch/internal/stripedouble"
)

// The Stripe double runs in a child process (bench/internal/double says why): at n=100,000 it
// would hold about 650 MiB of the seeding's objects in this process, and every GC during the run
// would mark it again (a third of run 1's CPU when measured in-process).
//
// Besides what every bench's double answers, this one makes dashboard charges (DashboardCharge is
// a Go method, not an API call) and refunds one.

type chargesRequest struct {
	CampaignID string   `json:"campaign_id"`
	PledgeIDs  []string `json:"pledge_ids"`
}

type madeCharge struct {
	PaymentIntentID string `json:"payment_intent_id"`
	ChargeID        string `json:"charge_id"`
}

type refundRequest struct {
	ChargeID string `json:"charge_id"`
	Amount   int64  `json:"amount"`
}

// serveDouble is the child.
func serveDouble() error {
	return double.Serve(stripedouble.Options{Seed: 1}, func(mux *http.ServeMux, d *stripedouble.Double) {
		mux.HandleFunc("POST /bench/charges", func(w http.ResponseWriter, r *http.Request) {
			var req chargesRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			out := make([]madeCharge, 0, len(req.PledgeIDs))
			for _, id := range req.PledgeIDs {
				pi, ch, err := d.DashboardCharge(stripedouble.DashboardChargeParams{Amount: pledgeAmount, Currency: pledgeCurr,
					Description: "Pledge " + id, TransferGroup: req.CampaignID, Metadata: map[string]string{"pledge_id": id, "campaign_id": req.CampaignID}})
				if err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				out = append(out, madeCharge{PaymentIntentID: pi, ChargeID: ch})
			}
			double.WriteJSON(w, out)
		})
		mux.HandleFunc("POST /bench/refunds", func(w http.ResponseWriter, r *http.Request) {
			var req refundRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			id, err := d.DashboardRefund(req.ChargeID, req.Amount)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			double.WriteJSON(w, id)
		})
	})
}

// doubleProc is the parent's handle on the child, with this bench's own calls.
type doubleProc struct{ *double.Proc }

// charges makes one succeeded dashboard charge for each pledge id, in the campaign's transfer
// group and with the metadata the service's own charges carry.
func (p doubleProc) charges(ctx context.Context, campaignID string, pledgeIDs []string) ([]madeCharge, error) {
	var out []madeCharge
	err := p.Call(ctx, http.MethodPost, "/bench/charges", chargesRequest{CampaignID: campaignID, PledgeIDs: pledgeIDs}, &out)
	if err == nil && len(out) != len(pledgeIDs) {
		err = fmt.Errorf("double made %d charges for %d pledges", len(out), len(pledgeIDs))
	}
	return out, err
}

func (p doubleProc) refund(ctx context.Context, chargeID string, amount int64) error {
	var id string
	return p.Call(ctx, http.MethodPost, "/bench/refunds", refundRequest{ChargeID: chargeID, Amount: amount}, &id)
}
