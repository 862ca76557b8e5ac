package notify

import (
	"context"
	"fmt"
	"net/url"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/locale"
	"github.com/backstitch/backstitch/internal/pledge"
)

// PledgesRecovered writes the one message that lists an address's pledges with a manage link
// each, in lang (the language of the page she asked on), to the address the pledges were made
// with (never to the text typed in the form). An address without pledges gets
// nothing: telling a stranger's inbox that someone typed it would be mail nobody asked for.
// Each request is its own message (the rate limits bound how many).
func (o *Outbox) PledgesRecovered(ctx context.Context, lang string, rs []pledge.Recovered) error {
	if len(rs) == 0 {
		return nil
	}
	l := locale.Negotiate(langOf(lang), "")
	titles := map[string]string{}
	links := make([]Link, 0, len(rs))
	for _, r := range rs {
		title, ok := titles[r.Pledge.CampaignID]
		if !ok {
			c, err := o.store.FindCampaign(ctx, r.Pledge.CampaignID)
			if err != nil {
				return fmt.Errorf("campaign of pledge %s: %w", r.Pledge.ID, err)
			}
			title, titles[c.ID] = c.Title, c.Title
		}
		links = append(links, Link{Label: title,
			Detail: l.Money(r.Pledge.Amount) + " · " + l.T("pledge.status."+string(r.Pledge.Status)),
			URL:    o.link("/pledges/"+r.Pledge.ID+"/manage", url.Values{"token": {r.Token}})})
	}
	now := o.now()
	return o.store.EnqueueMessage(ctx, Message{ID: backstitch.NewID("msg_recover"), Kind: PledgesRecovered, To: rs[0].Pledge.Backer.Email,
		Lang: l.Lang, Links: links, Status: StatusQueued, DueAt: now, CreatedAt: now,
		// Pledges are listed newest first: the latest name she gave is the one she uses.
		Data: map[string]string{"name": rs[0].Pledge.Backer.Name}})
}
