package stripedouble

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// onboardingPath serves account links: the double is its own hosted
// onboarding, so the offline service's designers can finish it in a browser.
const onboardingPath = "/_stripedouble/connect/onboarding"

var countryCurrency = map[string]string{
	"US": "usd", "CH": "chf", "GB": "gbp", "DE": "eur", "FR": "eur", "IT": "eur", "ES": "eur",
	"NL": "eur", "AT": "eur", "BE": "eur", "IE": "eur", "PT": "eur", "FI": "eur", "SE": "sek",
	"DK": "dkk", "NO": "nok", "CA": "cad", "AU": "aud", "JP": "jpy",
}

func (d *Double) createAccount(c *call) response {
	country := strings.ToUpper(c.params.str("country"))
	if country == "" {
		country = "US"
	}
	currency := countryCurrency[country]
	if currency == "" {
		currency = "usd"
	}
	typ := c.params.str("type")
	if typ == "" {
		typ = "custom"
	}
	caps := map[string]string{}
	for name, v := range c.params.sub("capabilities") {
		if m, ok := v.(map[string]any); ok && params(m).flag("requested") {
			caps[name] = "inactive"
		}
	}
	acct := &account{
		ID:              d.newID("acct"),
		Object:          "account",
		BusinessType:    nstr(c.params.str("business_type")),
		Capabilities:    caps,
		Country:         country,
		Created:         d.unix(),
		DefaultCurrency: currency,
		Email:           nstr(c.params.str("email")),
		Metadata:        mergeMetadata(nil, c.params),
		Requirements: requirements{
			CurrentlyDue:        []string{"business_type", "external_account", "tos_acceptance.date", "tos_acceptance.ip"},
			DisabledReason:      "requirements.past_due",
			EventuallyDue:       []string{"business_type", "external_account", "tos_acceptance.date", "tos_acceptance.ip"},
			PastDue:             []string{"business_type", "external_account", "tos_acceptance.date", "tos_acceptance.ip"},
			PendingVerification: []string{},
		},
		Type: typ,
	}
	d.put("account", acct)
	return d.ok(c, acct)
}

// accountLink is an onboarding link handed out by POST /v1/account_links.
type accountLink struct {
	account    string
	returnURL  string
	refreshURL string
	expiresAt  int64
	// used marks a link opened once: opening it again leads to refreshURL, as Stripe's do.
	used bool
}

// accountLinkTTL is how long Stripe's account links stay valid.
const accountLinkTTL = 300

func (d *Double) createAccountLink(c *call) response {
	id := c.params.str("account")
	if _, ok := get[*account](d, id); !ok {
		return missing("account", id, "account")
	}
	// The link is the whole credential of the browser page, as Stripe's
	// are: an unguessable token, not the account id anyone could count to.
	token := rand.Text()
	now := d.unix()
	d.links[token] = accountLink{account: id, returnURL: c.params.str("return_url"),
		refreshURL: c.params.str("refresh_url"), expiresAt: now + accountLinkTTL}
	return response{status: http.StatusOK, body: mustJSON(map[string]any{
		"object":     "account_link",
		"created":    now,
		"expires_at": now + accountLinkTTL,
		"url":        c.baseURL + onboardingPath + "?" + url.Values{"link": {token}}.Encode(),
	})}
}

// serveOnboarding completes onboarding when the account link is opened and
// sends the browser on to the platform's return_url, like Stripe's hosted
// onboarding after a successful submission. Links are single-use: a used or
// expired one sends the browser to refresh_url for a new one, as Stripe does.
func (d *Double) serveOnboarding(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	token := r.URL.Query().Get("link")
	link, ok := d.links[token]
	if ok {
		d.links[token] = accountLink{account: link.account, returnURL: link.returnURL, refreshURL: link.refreshURL,
			expiresAt: link.expiresAt, used: true}
	}
	d.mu.Unlock()
	if !ok {
		http.Error(w, "This onboarding link is not valid.", http.StatusNotFound)
		return
	}
	if link.used || d.unix() > link.expiresAt {
		if link.refreshURL != "" {
			http.Redirect(w, r, link.refreshURL, http.StatusSeeOther)
			return
		}
		http.Error(w, "This onboarding link has expired.", http.StatusGone)
		return
	}
	if err := d.CompleteOnboarding(link.account); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if link.returnURL != "" {
		http.Redirect(w, r, link.returnURL, http.StatusSeeOther)
		return
	}
	_, _ = fmt.Fprintln(w, "Onboarding complete.")
}

// AccountLinkURLs tells tests where an onboarding link returns to and
// refreshes to (Stripe's return_url and refresh_url), since the link itself
// is an opaque token; ok is false for an unknown or used link.
func (d *Double) AccountLinkURLs(link string) (returnURL, refreshURL string, ok bool) {
	u, err := url.Parse(link)
	if err != nil {
		return "", "", false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	l, ok := d.links[u.Query().Get("link")]
	return l.returnURL, l.refreshURL, ok && !l.used
}

// SubmitOnboardingDetails leaves a connected account as Stripe does when its holder has given
// every detail asked and Stripe is verifying them: details submitted, nothing due, charges and
// payouts not yet enabled, requested capabilities pending. It emits account.updated.
func (d *Double) SubmitOnboardingDetails(accountID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	acct, ok := get[*account](d, accountID)
	if !ok {
		return fmt.Errorf("stripedouble: no such account %q", accountID)
	}
	acct.DetailsSubmitted, acct.ChargesEnabled, acct.PayoutsEnabled = true, false, false
	for name := range acct.Capabilities {
		acct.Capabilities[name] = "pending"
	}
	acct.Requirements = requirements{CurrentlyDue: []string{}, EventuallyDue: []string{}, PastDue: []string{},
		DisabledReason: "requirements.pending_verification", PendingVerification: []string{"individual.verification.document"}}
	d.emit(nil, "account.updated", acct)
	return nil
}

// RejectAccount is Stripe refusing a connected account after its review (reason "fraud",
// "terms_of_service", "listed" or "other"): charges and payouts off for good, every capability
// inactive, requirements.disabled_reason "rejected.<reason>"; it emits account.updated.
func (d *Double) RejectAccount(accountID, reason string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	acct, ok := get[*account](d, accountID)
	if !ok {
		return fmt.Errorf("stripedouble: no such account %q", accountID)
	}
	acct.ChargesEnabled, acct.PayoutsEnabled = false, false
	for name := range acct.Capabilities {
		acct.Capabilities[name] = "inactive"
	}
	acct.Requirements = requirements{CurrentlyDue: []string{}, EventuallyDue: []string{}, PastDue: []string{},
		DisabledReason: nstr("rejected." + reason), PendingVerification: []string{}}
	d.emit(nil, "account.updated", acct)
	return nil
}

// CompleteOnboarding marks a connected account as fully onboarded (details
// submitted, charges and payouts enabled, every requested capability
// active) and emits account.updated.
func (d *Double) CompleteOnboarding(accountID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	acct, ok := get[*account](d, accountID)
	if !ok {
		return fmt.Errorf("stripedouble: no such account %q", accountID)
	}
	acct.DetailsSubmitted, acct.ChargesEnabled, acct.PayoutsEnabled = true, true, true
	if len(acct.Capabilities) == 0 {
		// Express onboarding always grants transfers, which Connect payouts need.
		acct.Capabilities["transfers"] = "inactive"
	}
	for name := range acct.Capabilities {
		acct.Capabilities[name] = "active"
	}
	acct.Requirements = requirements{CurrentlyDue: []string{}, EventuallyDue: []string{}, PastDue: []string{}, PendingVerification: []string{}}
	d.emit(nil, "account.updated", acct)
	return nil
}

func (d *Double) createTransfer(c *call) response {
	amount, _ := c.params.int64("amount")
	if amount < 1 {
		return invalid("amount", "This value must be greater than or equal to 1.")
	}
	currency := strings.ToLower(c.params.str("currency"))
	dest := c.params.str("destination")
	acct, ok := get[*account](d, dest)
	if !ok {
		return missing("destination", dest, "destination")
	}
	if acct.Capabilities["transfers"] != "active" {
		return errorResponse(http.StatusBadRequest, stripeError{
			Type: "invalid_request_error", Code: "insufficient_capabilities_for_transfer", Param: "destination",
			Message: "Your destination account needs to have at least one of the following capabilities " +
				"enabled: transfers, crypto_transfers, legacy_payments"})
	}
	var source *charge
	if id := c.params.str("source_transaction"); id != "" {
		if source, ok = get[*charge](d, id); !ok {
			return missing("charge", id, "source_transaction")
		}
		if source.Status != "succeeded" {
			return invalid("source_transaction", fmt.Sprintf("Charge %s has not succeeded.", id))
		}
		if source.Currency != currency {
			return invalid("currency", fmt.Sprintf("The currency of source_transaction's balance transaction "+
				"(%s) must be the same as the transfer currency (%s).", source.Currency, currency))
		}
		var used int64
		for _, tid := range d.order["transfer"] {
			if t := d.objects[tid].(*transfer); t.SourceTransaction == nstr(id) {
				used += t.Amount - t.AmountReversed
			}
		}
		if used+amount > source.Amount {
			return invalid("amount", fmt.Sprintf("Insufficient funds in source_transaction %s: %d %s of %d %s "+
				"already transferred.", id, used, currency, source.Amount, currency))
		}
	}
	tr := &transfer{
		ID:          d.newID("tr"),
		Object:      "transfer",
		Amount:      amount,
		Created:     d.unix(),
		Currency:    currency,
		Description: nstr(c.params.str("description")),
		Destination: dest,
		Metadata:    mergeMetadata(nil, c.params),
		SourceType:  "card",
	}
	if source != nil {
		tr.SourceTransaction = nstr(source.ID)
	}
	tr.TransferGroup = nstr(c.params.str("transfer_group"))
	tr.Reversals = reversalList{Object: "list", Data: []*transferReversal{}, URL: "/v1/transfers/" + tr.ID + "/reversals"}
	tr.BalanceTransaction = d.newBalanceTransaction("transfer", "transfer", tr.ID, currency, -amount, 0).ID
	d.put("transfer", tr)
	d.emit(c, "transfer.created", tr)
	return d.ok(c, tr)
}

func (d *Double) listTransfers(c *call) response {
	dest, group := c.params.str("destination"), c.params.str("transfer_group")
	return d.list(c, "transfer", func(o object) bool {
		tr := o.(*transfer)
		return (dest == "" || tr.Destination == dest) && (group == "" || string(tr.TransferGroup) == group)
	})
}

func (d *Double) createReversal(c *call) response {
	tr, ok := get[*transfer](d, c.args[0])
	if !ok {
		return missing("transfer", c.args[0], "id")
	}
	left := tr.Amount - tr.AmountReversed
	amount := left
	if c.params.has("amount") {
		amount, _ = c.params.int64("amount")
	}
	if amount < 1 || amount > left {
		return invalid("amount", fmt.Sprintf("Reversal amount must be between 1 and the %d %s not yet reversed.",
			left, tr.Currency))
	}
	rv := &transferReversal{
		ID:       d.newID("trr"),
		Object:   "transfer_reversal",
		Amount:   amount,
		Created:  d.unix(),
		Currency: tr.Currency,
		Metadata: mergeMetadata(nil, c.params),
		Transfer: tr.ID,
	}
	rv.BalanceTransaction = d.newBalanceTransaction("transfer_refund", "transfer_reversal", rv.ID, tr.Currency, amount, 0).ID
	d.put("transfer_reversal", rv)
	tr.AmountReversed += amount
	tr.Reversed = tr.AmountReversed == tr.Amount
	tr.Reversals.Data = append(tr.Reversals.Data, rv)
	tr.Reversals.TotalCount++
	d.emit(c, "transfer.reversed", tr)
	return d.ok(c, rv)
}

func (d *Double) listReversals(c *call) response {
	if _, ok := get[*transfer](d, c.args[0]); !ok {
		return missing("transfer", c.args[0], "id")
	}
	return d.list(c, "transfer_reversal", func(o object) bool { return o.(*transferReversal).Transfer == c.args[0] })
}

func (d *Double) retrieveReversal(c *call) response {
	rv, ok := get[*transferReversal](d, c.args[1])
	if !ok || rv.Transfer != c.args[0] {
		return missing("transfer_reversal", c.args[1], "id")
	}
	return d.ok(c, rv)
}
