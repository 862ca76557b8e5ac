package stripedouble

import (
	"crypto/rand"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/backstitch/backstitch/internal/money"
)

// checkoutPath serves each Checkout Session's hosted page: the double is its own Stripe
// Checkout, so the offline service's backers can pay in a browser with no network.
const checkoutPath = "/_stripedouble/checkout/"

// Stripe lets a Checkout Session expire between 30 minutes and 24 hours after its creation.
const (
	checkoutMinTTL = 30 * 60
	checkoutMaxTTL = 24 * 60 * 60
)

type checkoutSession struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	AmountSubtotal     *int64            `json:"amount_subtotal"`
	AmountTotal        *int64            `json:"amount_total"`
	CancelURL          nstr              `json:"cancel_url"`
	ClientReferenceID  nstr              `json:"client_reference_id"`
	Created            int64             `json:"created"`
	Currency           nstr              `json:"currency"`
	Customer           nstr              `json:"customer"`
	CustomerEmail      nstr              `json:"customer_email"`
	ExpiresAt          int64             `json:"expires_at"`
	Livemode           bool              `json:"livemode"`
	Locale             nstr              `json:"locale"`
	Metadata           map[string]string `json:"metadata"`
	Mode               string            `json:"mode"`
	PaymentIntent      nstr              `json:"payment_intent"`
	PaymentMethodTypes []string          `json:"payment_method_types"`
	PaymentStatus      string            `json:"payment_status"`
	SetupIntent        nstr              `json:"setup_intent"`
	Status             string            `json:"status"`
	SuccessURL         nstr              `json:"success_url"`
	URL                nstr              `json:"url"`

	// token is the hosted page's credential: its address is unguessable, as Stripe's are.
	token string
	// What the payment mode's PaymentIntent is made with when the backer pays.
	lineName       string
	intentMetadata map[string]string
	transferGroup  string
	description    string
}

func (o *checkoutSession) objectID() string { return o.ID }
func (o *checkoutSession) kind() string     { return o.Object }
func (o *checkoutSession) createdAt() int64 { return o.Created }

func (d *Double) createCheckoutSession(c *call) response {
	mode := c.params.str("mode")
	if mode != "setup" && mode != "payment" {
		return invalid("mode", "stripedouble supports Checkout Sessions in setup or payment mode only.")
	}
	success := c.params.str("success_url")
	if success == "" {
		return invalid("success_url", "Missing required param: success_url.")
	}
	cusID, errResp := d.customerParam(c)
	if errResp != nil {
		return *errResp
	}
	now := d.unix()
	expires := now + checkoutMaxTTL
	if c.params.has("expires_at") {
		expires, _ = c.params.int64("expires_at")
		if expires < now+checkoutMinTTL || expires > now+checkoutMaxTTL {
			return invalid("expires_at", "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.")
		}
	}
	id := d.newID("cs_test")
	cs := &checkoutSession{
		ID:                 id,
		Object:             "checkout.session",
		CancelURL:          nstr(c.params.str("cancel_url")),
		ClientReferenceID:  nstr(c.params.str("client_reference_id")),
		Created:            now,
		Customer:           nstr(cusID),
		CustomerEmail:      nstr(c.params.str("customer_email")),
		ExpiresAt:          expires,
		Locale:             nstr(c.params.str("locale")),
		Metadata:           mergeMetadata(nil, c.params),
		Mode:               mode,
		PaymentMethodTypes: []string{"card"},
		PaymentStatus:      "unpaid",
		Status:             "open",
		SuccessURL:         nstr(success),
		token:              rand.Text(),
	}
	cs.URL = nstr(c.baseURL + checkoutPath + cs.token)
	if mode == "payment" {
		total, currency, name, errResp := lineItemsTotal(c.params)
		if errResp != nil {
			return *errResp
		}
		cs.AmountSubtotal, cs.AmountTotal, cs.Currency, cs.lineName = &total, &total, nstr(currency), name
		pid := c.params.sub("payment_intent_data")
		cs.intentMetadata = mergeMetadata(nil, pid)
		cs.transferGroup, cs.description = pid.str("transfer_group"), pid.str("description")
	} else {
		cs.Currency = nstr(strings.ToLower(c.params.str("currency")))
		cs.PaymentStatus = "no_payment_required"
		// Setup mode's SetupIntent exists from the start, as in Stripe.
		si := &setupIntent{
			ID: d.newID("seti"), Object: "setup_intent", Created: now, Customer: nstr(cusID),
			Metadata: mergeMetadata(nil, c.params.sub("setup_intent_data")), PaymentMethodTypes: []string{"card"},
			Status: "requires_payment_method", Usage: "off_session",
			Description: nstr(c.params.sub("setup_intent_data").str("description")),
		}
		si.ClientSecret = si.ID + "_secret_" + d.tag
		d.put("setup_intent", si)
		d.emit(c, "setup_intent.created", si)
		cs.SetupIntent = nstr(si.ID)
	}
	d.put("checkout.session", cs)
	return d.ok(c, cs)
}

// lineItemsTotal adds up line items given with price_data (the only kind the double knows: it
// has no Prices), all in one currency, as Stripe requires.
func lineItemsTotal(p params) (total int64, currency, name string, errResp *response) {
	items := p.sub("line_items")
	if len(items) == 0 {
		r := invalid("line_items", "You must provide at least one line item in payment mode.")
		return 0, "", "", &r
	}
	for i := 0; i < len(items); i++ {
		item := items.sub(fmt.Sprint(i))
		pd := item.sub("price_data")
		amount, ok := pd.int64("unit_amount")
		if pd == nil || !ok || amount < 0 {
			r := invalid(fmt.Sprintf("line_items[%d][price_data]", i), "stripedouble supports line items with price_data and unit_amount only.")
			return 0, "", "", &r
		}
		qty := int64(1)
		if item.has("quantity") {
			qty, _ = item.int64("quantity")
		}
		cur := strings.ToLower(pd.str("currency"))
		if currency != "" && cur != currency {
			r := invalid(fmt.Sprintf("line_items[%d][price_data][currency]", i), "All line items must be in the same currency.")
			return 0, "", "", &r
		}
		currency = cur
		total += amount * qty
		if name == "" {
			name = pd.sub("product_data").str("name")
		}
	}
	if total < 1 {
		r := invalid("line_items", "The total of a payment-mode Checkout Session must be at least 1.")
		return 0, "", "", &r
	}
	return total, currency, name, nil
}

// expireIfDue moves an open session past its expires_at to expired, as Stripe does on its own;
// must be called with d.mu held.
func (d *Double) expireIfDue(cs *checkoutSession) {
	if cs.Status == "open" && d.unix() >= cs.ExpiresAt {
		d.expireSession(nil, cs)
	}
}

func (d *Double) expireSession(c *call, cs *checkoutSession) {
	cs.Status, cs.URL = "expired", ""
	d.emit(c, "checkout.session.expired", cs)
}

func (d *Double) expireCheckoutSession(c *call) response {
	cs, ok := get[*checkoutSession](d, c.args[0])
	if !ok {
		return missing("checkout.session", c.args[0], "session")
	}
	d.expireIfDue(cs)
	if cs.Status != "open" {
		return errorResponse(http.StatusBadRequest, stripeError{Type: "invalid_request_error", Code: "checkout_session_not_expirable",
			Message: fmt.Sprintf("Only Checkout Sessions with a status in [\"open\"] can be expired. This session has a status of %s.", cs.Status)})
	}
	d.expireSession(c, cs)
	return d.ok(c, cs)
}

func (d *Double) listCheckoutSessions(c *call) response {
	cus, pi, status := c.params.str("customer"), c.params.str("payment_intent"), c.params.str("status")
	return d.list(c, "checkout.session", func(o object) bool {
		cs := o.(*checkoutSession)
		return (cus == "" || string(cs.Customer) == cus) && (pi == "" || string(cs.PaymentIntent) == pi) &&
			(status == "" || cs.Status == status)
	})
}

// CheckoutURLs tells tests where a hosted checkout page returns to (success_url, with the
// session id filled in, and cancel_url); ok is false for an unknown page.
func (d *Double) CheckoutURLs(pageURL string) (success, cancel string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cs := d.sessionByToken(pageURL[strings.LastIndex(pageURL, "/")+1:])
	if cs == nil {
		return "", "", false
	}
	return successURL(cs), string(cs.CancelURL), true
}

func successURL(cs *checkoutSession) string {
	return strings.ReplaceAll(string(cs.SuccessURL), "{CHECKOUT_SESSION_ID}", cs.ID)
}

// sessionByToken must be called with d.mu held.
func (d *Double) sessionByToken(token string) *checkoutSession {
	if token == "" {
		return nil
	}
	for _, id := range d.order["checkout.session"] {
		if cs := d.objects[id].(*checkoutSession); cs.token == token {
			return cs
		}
	}
	return nil
}

// serveCheckout is the hosted checkout page: GET shows the form, POST pays with the card typed
// or picked, and POST …/3ds approves or fails a 3-D Secure challenge. A decline keeps the session
// open for another card, as Stripe Checkout does; success completes it and redirects (303) to
// success_url.
func (d *Double) serveCheckout(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, checkoutPath)
	token, step, _ := strings.Cut(rest, "/")
	d.mu.Lock()
	defer d.mu.Unlock()
	cs := d.sessionByToken(token)
	if cs == nil {
		d.checkoutPage(w, http.StatusNotFound, checkoutView{Gone: "This checkout page does not exist."})
		return
	}
	d.expireIfDue(cs)
	switch cs.Status {
	case "complete":
		http.Redirect(w, r, successURL(cs), http.StatusSeeOther)
		return
	case "expired":
		d.checkoutPage(w, http.StatusGone, checkoutView{Lang: checkoutLang(string(cs.Locale)), Gone: "This checkout session has expired.", CancelURL: string(cs.CancelURL)})
		return
	}
	if r.Method == http.MethodGet {
		d.checkoutPage(w, http.StatusOK, d.checkoutView(cs, ""))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<14)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	c := &call{params: params{}}
	switch step {
	case "":
		number := r.PostForm.Get("card_number")
		if number == "" {
			number = r.PostForm.Get("test_card")
		}
		behavior, ok := lookupCard(number)
		if !ok {
			d.checkoutPage(w, http.StatusUnprocessableEntity, d.checkoutView(cs, "Your card number is incorrect."))
			return
		}
		pm := d.newPaymentMethod(behavior, 0, 0)
		d.payCheckout(w, r, c, cs, pm, false)
	case "3ds":
		d.finishChallenge(w, r, c, cs, r.PostForm.Get("outcome") == "approve")
	default:
		http.NotFound(w, r)
	}
}

// payCheckout confirms the session's intent with pm and answers the page the result calls for.
func (d *Double) payCheckout(w http.ResponseWriter, r *http.Request, c *call, cs *checkoutSession, pm *paymentMethod, authDone bool) {
	status, failure := d.confirmCheckoutIntent(c, cs, pm, authDone)
	switch {
	case failure != "":
		d.checkoutPage(w, http.StatusPaymentRequired, d.checkoutView(cs, failure))
	case status == "requires_action":
		v := d.checkoutView(cs, "")
		v.Challenge = true
		d.checkoutPage(w, http.StatusOK, v)
	default:
		cs.Status, cs.URL = "complete", ""
		if cs.Mode == "payment" {
			cs.PaymentStatus = "paid"
		}
		d.emit(c, "checkout.session.completed", cs)
		http.Redirect(w, r, successURL(cs), http.StatusSeeOther)
	}
}

// confirmCheckoutIntent confirms the SetupIntent (setup mode) or the PaymentIntent, made now if
// this is the first card tried (payment mode), with the intents' own rules and events.
func (d *Double) confirmCheckoutIntent(c *call, cs *checkoutSession, pm *paymentMethod, authDone bool) (status, failure string) {
	if cs.Mode == "setup" {
		si, _ := get[*setupIntent](d, string(cs.SetupIntent))
		resp := d.confirmSetup(c, si, pm, authDone)
		if resp.status != http.StatusOK {
			return si.Status, si.LastSetupError.Message
		}
		return si.Status, ""
	}
	pi, ok := get[*paymentIntent](d, string(cs.PaymentIntent))
	if !ok {
		pi = &paymentIntent{
			ID: d.newID("pi"), Object: "payment_intent", Amount: *cs.AmountTotal, CaptureMethod: "automatic",
			ConfirmationMethod: "automatic", Created: d.unix(), Currency: string(cs.Currency), Customer: cs.Customer,
			Description: nstr(cs.description), Metadata: cs.intentMetadata, PaymentMethodTypes: []string{"card"},
			Status: "requires_payment_method", TransferGroup: nstr(cs.transferGroup),
		}
		if pi.Metadata == nil {
			pi.Metadata = map[string]string{}
		}
		pi.ClientSecret = pi.ID + "_secret_" + d.tag
		d.put("payment_intent", pi)
		d.emit(c, "payment_intent.created", pi)
		cs.PaymentIntent = nstr(pi.ID)
	}
	resp := d.confirmPayment(c, pi, pm, false, authDone)
	if resp.status != http.StatusOK {
		return pi.Status, pi.LastPaymentError.Message
	}
	return pi.Status, ""
}

// finishChallenge is the backer's answer to 3-D Secure: approving completes the confirmation;
// failing leaves the intent waiting for another card with Stripe's authentication error.
func (d *Double) finishChallenge(w http.ResponseWriter, r *http.Request, c *call, cs *checkoutSession, approve bool) {
	var pmID, status string
	if cs.Mode == "setup" {
		si, _ := get[*setupIntent](d, string(cs.SetupIntent))
		pmID, status = string(si.PaymentMethod), si.Status
		if status == "requires_action" && !approve {
			pmCopy, _ := get[*paymentMethod](d, pmID)
			si.Status, si.PaymentMethod, si.NextAction = "requires_payment_method", "", nil
			si.LastSetupError = &stripeError{Type: "invalid_request_error", Code: "setup_intent_authentication_failure",
				Message: authFailed, PaymentMethod: pmCopy}
			d.emit(c, "setup_intent.setup_failed", si)
		}
	} else if pi, ok := get[*paymentIntent](d, string(cs.PaymentIntent)); ok {
		pmID, status = string(pi.PaymentMethod), pi.Status
		if status == "requires_action" && !approve {
			pmCopy, _ := get[*paymentMethod](d, pmID)
			pi.Status, pi.PaymentMethod, pi.NextAction = "requires_payment_method", "", nil
			pi.LastPaymentError = &stripeError{Type: "invalid_request_error", Code: "payment_intent_authentication_failure",
				Message: authFailed, PaymentMethod: pmCopy}
			d.emit(c, "payment_intent.payment_failed", pi)
		}
	}
	if status != "requires_action" {
		d.checkoutPage(w, http.StatusConflict, d.checkoutView(cs, "There is no authentication waiting on this checkout."))
		return
	}
	if !approve {
		d.checkoutPage(w, http.StatusPaymentRequired, d.checkoutView(cs, authFailed))
		return
	}
	pm, _ := get[*paymentMethod](d, pmID)
	d.payCheckout(w, r, c, cs, pm, true)
}

const authFailed = "We are unable to authenticate your payment method. Please choose a different payment method and try again."

// checkoutView is what the hosted page shows.
type checkoutView struct {
	// Lang is the page's language, from the session's locale; W are its words.
	Lang      string
	W         checkoutWords
	Gone      string
	Mode      string
	Amount    string
	Item      string
	Action    string
	Error     string
	Challenge bool
	CancelURL string
	Cards     []testCardChoice
}

type testCardChoice struct{ Number, Label string }

// checkoutCards are the test cards the page offers to pick, with what each does.
var checkoutCards = []testCardChoice{
	{Number: "4242424242424242"}, {Number: "4000002760003184"}, {Number: "4000000000000341"},
	{Number: "4000000000000002"}, {Number: "4000000000009995"},
}

func (d *Double) checkoutView(cs *checkoutSession, errMsg string) checkoutView {
	v := checkoutView{Lang: checkoutLang(string(cs.Locale)), Mode: cs.Mode, Item: cs.lineName, Action: checkoutPath + cs.token, Error: errMsg,
		CancelURL: string(cs.CancelURL)}
	if cs.AmountTotal != nil {
		v.Amount = money.Money{Amount: *cs.AmountTotal, Currency: strings.ToUpper(string(cs.Currency))}.String()
	}
	return v
}

func (d *Double) checkoutPage(w http.ResponseWriter, status int, v checkoutView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if v.Lang == "" {
		v.Lang = "en"
	}
	v.W = checkoutText[v.Lang]
	v.Gone, v.Error = v.W.say(v.Gone), v.W.say(v.Error)
	cards := make([]testCardChoice, len(checkoutCards))
	for i, c := range checkoutCards {
		cards[i] = testCardChoice{Number: c.Number, Label: c.Number[0:4] + " " + c.Number[4:8] + " " + c.Number[8:12] + " " + c.Number[12:] + " — " + v.W.Cards[c.Number]}
	}
	v.Cards = cards
	_ = checkoutTemplate.Execute(w, v)
}

var checkoutTemplate = template.Must(template.New("checkout").Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.W.Title}}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f6f9fc;color:#1a1f36}
main{max-width:28rem;margin:0 auto;padding:1rem}
.banner{background:#ffde92;color:#5a3e00;padding:.25rem .5rem;border-radius:4px;font-size:.875rem}
h1{font-size:1.375rem;margin:.75rem 0}
.amount{font-size:1.75rem;font-weight:600;margin:0}
form,.box{background:#fff;border:1px solid #d8dee4;border-radius:8px;padding:1rem;margin:1rem 0}
label,legend{display:block;font-weight:600;margin:.5rem 0 .25rem}
input[type=text]{box-sizing:border-box;width:100%;font:inherit;padding:.5rem;border:1px solid #8792a2;border-radius:4px}
fieldset{border:0;padding:0;margin:.5rem 0}
.choice{display:flex;gap:.5rem;align-items:flex-start;font-weight:400;margin:.25rem 0}
button{font:inherit;font-weight:600;background:#635bff;color:#fff;border:0;border-radius:6px;padding:.75rem 1rem;width:100%;margin-top:.75rem;cursor:pointer}
button.secondary{background:#fff;color:#1a1f36;border:1px solid #8792a2}
.error{background:#fde8e8;color:#8a1c1c;border:1px solid #e5a1a1;border-radius:4px;padding:.5rem}
a{color:#4a42d6}
</style></head><body><main>
<p class="banner">{{.W.Banner}}</p>
{{if .Gone}}<h1>{{.W.Unavailable}}</h1><p>{{.Gone}}</p>{{if .CancelURL}}<p><a href="{{.CancelURL}}">{{.W.ReturnToSite}}</a></p>{{end}}
{{else if .Challenge}}<h1>{{.W.ChallengeTitle}}</h1>
<div class="box"><p>{{if eq .Mode "setup"}}{{.W.ConfirmCard}}{{else}}{{printf .W.ConfirmPayment .Amount}}{{end}}</p>
<form method="post" action="{{.Action}}/3ds"><input type="hidden" name="outcome" value="approve"><button type="submit" id="approve">{{.W.Approve}}</button></form>
<form method="post" action="{{.Action}}/3ds"><input type="hidden" name="outcome" value="fail"><button type="submit" id="fail" class="secondary">{{.W.Fail}}</button></form></div>
{{else}}
{{if eq .Mode "setup"}}<h1>{{.W.SaveTitle}}</h1><p>{{.W.SaveExplain}}</p>
{{else}}<h1>{{if .Item}}{{printf .W.PayFor .Item}}{{else}}{{.W.Pay}}{{end}}</h1><p class="amount">{{.Amount}}</p>{{end}}
{{if .Error}}<p class="error" role="alert" id="checkout-error">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<label for="card_number">{{.W.CardNumber}}</label>
<input type="text" id="card_number" name="card_number" inputmode="numeric" autocomplete="cc-number" placeholder="4242 4242 4242 4242"{{if .Error}} aria-describedby="checkout-error"{{end}}>
<fieldset><legend>{{.W.PickCard}}</legend>
{{range $i, $c := .Cards}}<label class="choice"><input type="radio" name="test_card" value="{{$c.Number}}"{{if eq $i 0}} checked{{end}}> {{$c.Label}}</label>
{{end}}</fieldset>
<button type="submit" id="submit">{{if eq .Mode "setup"}}{{.W.SaveCard}}{{else}}{{.W.Pay}} {{.Amount}}{{end}}</button>
</form>
{{if .CancelURL}}<p><a href="{{.CancelURL}}" id="cancel">{{.W.Back}}</a></p>{{end}}
{{end}}
</main></body></html>
`))
