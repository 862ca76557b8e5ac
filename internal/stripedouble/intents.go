package stripedouble

import (
	"fmt"
	"maps"
	"strings"
)

func (d *Double) threeDSAction(id string) *nextAction {
	return &nextAction{
		Type: "use_stripe_sdk",
		UseStripeSDK: map[string]any{
			"type":      "three_d_secure_redirect",
			"stripe_js": "https://hooks.stripe.com/redirect/authenticate/" + id,
			"source":    "src_" + strings.TrimPrefix(id, "pi_"),
		},
	}
}

func paymentMethodTypes(c *call) ([]string, *automaticPaymentMethods) {
	if types := c.params.list("payment_method_types"); len(types) > 0 {
		return types, nil
	}
	// Since 2023-08-16 Stripe enables automatic payment methods when no
	// types are given; the double only knows cards.
	return []string{"card"}, &automaticPaymentMethods{Enabled: true}
}

// unexpectedState is Stripe's answer to an action the intent's status does
// not allow; what is "PaymentIntent" or "SetupIntent".
func unexpectedState(what, status, verb, past, allowed string) stripeError {
	code := map[string]string{
		"PaymentIntent": "payment_intent_unexpected_state",
		"SetupIntent":   "setup_intent_unexpected_state",
	}[what]
	return stripeError{
		Type: "invalid_request_error",
		Code: code,
		Message: fmt.Sprintf("You cannot %s this %s because it has a status of %s. Only a %s with one of the "+
			"following statuses may be %s: %s.", verb, what, status, what, past, allowed),
	}
}

// Setup intents.

func (d *Double) createSetupIntent(c *call) response {
	cusID, errResp := d.customerParam(c)
	if errResp != nil {
		return *errResp
	}
	usage := c.params.str("usage")
	if usage == "" {
		usage = "off_session"
	}
	id := d.newID("seti")
	types, apm := paymentMethodTypes(c)
	si := &setupIntent{
		ID:                      id,
		Object:                  "setup_intent",
		AutomaticPaymentMethods: apm,
		ClientSecret:            id + "_secret_" + d.tag,
		Created:                 d.unix(),
		Customer:                nstr(cusID),
		Description:             nstr(c.params.str("description")),
		Metadata:                mergeMetadata(nil, c.params),
		PaymentMethodTypes:      types,
		Status:                  "requires_payment_method",
		Usage:                   usage,
	}
	var pm *paymentMethod
	if pmID := c.params.str("payment_method"); pmID != "" {
		if pm, errResp = d.resolvePaymentMethod(pmID, "payment_method"); errResp != nil {
			return *errResp
		}
		si.PaymentMethod = nstr(pm.ID)
		si.Status = "requires_confirmation"
	}
	d.put("setup_intent", si)
	d.emit(c, "setup_intent.created", si)
	if c.params.flag("confirm") {
		return d.confirmSetup(c, si, pm, false)
	}
	return d.ok(c, si)
}

func (d *Double) confirmSetupIntent(c *call) response {
	si, ok := get[*setupIntent](d, c.args[0])
	if !ok {
		return missing("setup_intent", c.args[0], "intent")
	}
	switch si.Status {
	case "requires_payment_method", "requires_confirmation", "requires_action":
	default:
		e := unexpectedState("SetupIntent", si.Status, "confirm", "confirmed",
			"requires_payment_method, requires_confirmation, requires_action")
		e.SetupIntent = si
		return errorResponse(400, e)
	}
	pm, errResp := d.intentPaymentMethod(c, string(si.PaymentMethod))
	if errResp != nil {
		return *errResp
	}
	// Confirming again while 3D Secure is pending stands for the customer
	// completing the challenge.
	authDone := si.Status == "requires_action" && pm != nil && nstr(pm.ID) == si.PaymentMethod
	return d.confirmSetup(c, si, pm, authDone)
}

// intentPaymentMethod is the payment_method parameter of a confirm, or the
// one already on the intent.
func (d *Double) intentPaymentMethod(c *call, current string) (*paymentMethod, *response) {
	if id := c.params.str("payment_method"); id != "" {
		return d.resolvePaymentMethod(id, "payment_method")
	}
	if current == "" {
		return nil, nil
	}
	pm, _ := get[*paymentMethod](d, current)
	return pm, nil
}

func (d *Double) confirmSetup(c *call, si *setupIntent, pm *paymentMethod, authDone bool) response {
	if pm == nil {
		return invalid("payment_method", "You cannot confirm this SetupIntent because it's missing a payment "+
			"method. Update the SetupIntent with a payment method and then confirm it again.")
	}
	if si.Customer != "" {
		if errResp := checkAttachable(pm, string(si.Customer)); errResp != nil {
			return *errResp
		}
	}
	si.PaymentMethod, si.LastSetupError, si.NextAction = nstr(pm.ID), nil, nil
	switch {
	case pm.behavior.decline != nil:
		dec := pm.behavior.decline
		pmCopy := *pm
		si.Status, si.PaymentMethod = "requires_payment_method", ""
		si.LastSetupError = &stripeError{Type: "card_error", Code: dec.code, DeclineCode: dec.declineCode,
			Message: dec.message, DocURL: "https://stripe.com/docs/error-codes/" + dec.code, PaymentMethod: &pmCopy}
		d.emit(c, "setup_intent.setup_failed", si)
		return cardError(dec, stripeError{SetupIntent: si, PaymentMethod: &pmCopy})
	case pm.behavior.auth != authNever && !authDone:
		si.Status, si.NextAction = "requires_action", d.threeDSAction(si.ID)
		d.emit(c, "setup_intent.requires_action", si)
		return d.ok(c, si)
	}
	si.Status = "succeeded"
	if si.Customer != "" && pm.Customer == "" {
		d.attach(c, pm, string(si.Customer))
	}
	if si.Usage == "off_session" {
		pm.setUp = true
	}
	d.emit(c, "setup_intent.succeeded", si)
	return d.ok(c, si)
}

func (d *Double) cancelSetupIntent(c *call) response {
	si, ok := get[*setupIntent](d, c.args[0])
	if !ok {
		return missing("setup_intent", c.args[0], "intent")
	}
	switch si.Status {
	case "requires_payment_method", "requires_confirmation", "requires_action":
	default:
		e := unexpectedState("SetupIntent", si.Status, "cancel", "canceled",
			"requires_payment_method, requires_confirmation, requires_action")
		e.SetupIntent = si
		return errorResponse(400, e)
	}
	si.Status, si.NextAction = "canceled", nil
	si.CancellationReason = nstr(c.params.str("cancellation_reason"))
	d.emit(c, "setup_intent.canceled", si)
	return d.ok(c, si)
}

func (d *Double) listSetupIntents(c *call) response {
	cus, pm := c.params.str("customer"), c.params.str("payment_method")
	return d.list(c, "setup_intent", func(o object) bool {
		si := o.(*setupIntent)
		return (cus == "" || string(si.Customer) == cus) && (pm == "" || string(si.PaymentMethod) == pm)
	})
}

// Payment intents.

func (d *Double) createPaymentIntent(c *call) response {
	amount, _ := c.params.int64("amount")
	if amount < 1 {
		return invalid("amount", "This value must be greater than or equal to 1.")
	}
	captureMethod := c.params.str("capture_method")
	switch captureMethod {
	case "":
		captureMethod = "automatic"
	case "automatic", "automatic_async":
	default:
		return invalid("capture_method", "stripedouble supports capture_method automatic only.")
	}
	cusID, errResp := d.customerParam(c)
	if errResp != nil {
		return *errResp
	}
	id := d.newID("pi")
	types, apm := paymentMethodTypes(c)
	pi := &paymentIntent{
		ID:                      id,
		Object:                  "payment_intent",
		Amount:                  amount,
		AutomaticPaymentMethods: apm,
		CaptureMethod:           captureMethod,
		ClientSecret:            id + "_secret_" + d.tag,
		ConfirmationMethod:      "automatic",
		Created:                 d.unix(),
		Currency:                strings.ToLower(c.params.str("currency")),
		Customer:                nstr(cusID),
		Description:             nstr(c.params.str("description")),
		Metadata:                mergeMetadata(nil, c.params),
		PaymentMethodTypes:      types,
		SetupFutureUsage:        nstr(c.params.str("setup_future_usage")),
		Status:                  "requires_payment_method",
		TransferGroup:           nstr(c.params.str("transfer_group")),
	}
	var pm *paymentMethod
	if pmID := c.params.str("payment_method"); pmID != "" {
		if pm, errResp = d.resolvePaymentMethod(pmID, "payment_method"); errResp != nil {
			return *errResp
		}
		pi.PaymentMethod = nstr(pm.ID)
		pi.Status = "requires_confirmation"
	}
	d.put("payment_intent", pi)
	d.emit(c, "payment_intent.created", pi)
	if c.params.flag("confirm") {
		return d.confirmPayment(c, pi, pm, c.params.flag("off_session"), false)
	}
	return d.ok(c, pi)
}

func (d *Double) updatePaymentIntent(c *call) response {
	pi, ok := get[*paymentIntent](d, c.args[0])
	if !ok {
		return missing("payment_intent", c.args[0], "intent")
	}
	if pi.Status == "succeeded" || pi.Status == "canceled" {
		for _, locked := range []string{"amount", "currency", "payment_method", "customer"} {
			if c.params.has(locked) {
				e := unexpectedState("PaymentIntent", pi.Status, "update", "updated",
					"requires_payment_method, requires_confirmation, requires_action")
				e.PaymentIntent = pi
				return errorResponse(400, e)
			}
		}
	}
	if n, ok := c.params.int64("amount"); ok {
		pi.Amount = n
	}
	if c.params.has("payment_method") {
		pm, errResp := d.resolvePaymentMethod(c.params.str("payment_method"), "payment_method")
		if errResp != nil {
			return *errResp
		}
		pi.PaymentMethod, pi.Status = nstr(pm.ID), "requires_confirmation"
	}
	if c.params.has("description") {
		pi.Description = nstr(c.params.str("description"))
	}
	if c.params.has("transfer_group") {
		pi.TransferGroup = nstr(c.params.str("transfer_group"))
	}
	pi.Metadata = mergeMetadata(pi.Metadata, c.params)
	return d.ok(c, pi)
}

func (d *Double) confirmPaymentIntent(c *call) response {
	pi, ok := get[*paymentIntent](d, c.args[0])
	if !ok {
		return missing("payment_intent", c.args[0], "intent")
	}
	switch pi.Status {
	case "requires_payment_method", "requires_confirmation", "requires_action":
	default:
		e := unexpectedState("PaymentIntent", pi.Status, "confirm", "confirmed",
			"requires_payment_method, requires_confirmation, requires_action")
		e.PaymentIntent = pi
		return errorResponse(400, e)
	}
	pm, errResp := d.intentPaymentMethod(c, string(pi.PaymentMethod))
	if errResp != nil {
		return *errResp
	}
	// Confirming again while 3D Secure is pending stands for the customer
	// completing the challenge.
	authDone := pi.Status == "requires_action" && pm != nil && nstr(pm.ID) == pi.PaymentMethod
	return d.confirmPayment(c, pi, pm, c.params.flag("off_session"), authDone)
}

func (d *Double) confirmPayment(c *call, pi *paymentIntent, pm *paymentMethod, offSession, authDone bool) response {
	if pm == nil {
		return invalid("payment_method", "You cannot confirm this PaymentIntent because it's missing a payment "+
			"method. You can either update the PaymentIntent with a payment method and then confirm it again, "+
			"or confirm it again directly with a payment method.")
	}
	if pm.Customer != "" && pm.Customer != pi.Customer {
		return invalid("payment_method", fmt.Sprintf("The provided PaymentMethod belongs to customer %s; "+
			"the PaymentIntent must be created with that customer.", pm.Customer))
	}
	pi.PaymentMethod, pi.LastPaymentError, pi.NextAction = nstr(pm.ID), nil, nil
	dec := pm.behavior.decline
	if dec == nil {
		dec = pm.behavior.chargeDecline
	}
	switch {
	case dec != nil:
		return d.failPayment(c, pi, pm, dec)
	case pm.needsAuth() && !authDone && offSession:
		return d.failPayment(c, pi, pm, declineAuth)
	case pm.needsAuth() && !authDone:
		pi.Status, pi.NextAction = "requires_action", d.threeDSAction(pi.ID)
		d.emit(c, "payment_intent.requires_action", pi)
		return d.ok(c, pi)
	}
	d.succeedPayment(c, pi, pm)
	return d.ok(c, pi)
}

func (d *Double) succeedPayment(c *call, pi *paymentIntent, pm *paymentMethod) {
	ch := d.newCharge(pi, pm, nil)
	pi.Status, pi.AmountReceived, pi.LatestCharge = "succeeded", pi.Amount, nstr(ch.ID)
	if pi.SetupFutureUsage != "" && pi.Customer != "" && pm.Customer == "" {
		d.attach(c, pm, string(pi.Customer))
		pm.setUp = pi.SetupFutureUsage == "off_session"
	}
	d.emit(c, "charge.succeeded", ch)
	d.emit(c, "payment_intent.succeeded", pi)
}

func (d *Double) failPayment(c *call, pi *paymentIntent, pm *paymentMethod, dec *decline) response {
	ch := d.newCharge(pi, pm, dec)
	pmCopy := *pm
	pi.Status, pi.PaymentMethod, pi.LatestCharge = "requires_payment_method", "", nstr(ch.ID)
	pi.LastPaymentError = &stripeError{Type: "card_error", Code: dec.code, DeclineCode: dec.declineCode,
		Message: dec.message, DocURL: "https://stripe.com/docs/error-codes/" + dec.code, Charge: ch.ID,
		PaymentMethod: &pmCopy}
	d.emit(c, "charge.failed", ch)
	d.emit(c, "payment_intent.payment_failed", pi)
	return cardError(dec, stripeError{Charge: ch.ID, PaymentIntent: pi, PaymentMethod: &pmCopy})
}

func (d *Double) newCharge(pi *paymentIntent, pm *paymentMethod, dec *decline) *charge {
	ch := &charge{
		ID:                   d.newID("ch"),
		Object:               "charge",
		Amount:               pi.Amount,
		Created:              d.unix(),
		Currency:             pi.Currency,
		Customer:             pi.Customer,
		Description:          pi.Description,
		Metadata:             maps.Clone(pi.Metadata),
		PaymentIntent:        nstr(pi.ID),
		PaymentMethod:        nstr(pm.ID),
		PaymentMethodDetails: paymentMethodDetails{Card: pm.Card, Type: "card"},
		TransferGroup:        pi.TransferGroup,
	}
	if dec != nil {
		ch.Status = "failed"
		ch.FailureCode, ch.FailureMessage = nstr(dec.code), nstr(dec.message)
		ch.Outcome = outcome{NetworkStatus: "declined_by_network", Reason: nstr(dec.declineCode), RiskLevel: "normal",
			SellerMessage: "The bank did not return any further details with this decline.", Type: "issuer_declined"}
	} else {
		ch.Status, ch.Paid, ch.Captured, ch.AmountCaptured = "succeeded", true, true, pi.Amount
		ch.Outcome = outcome{NetworkStatus: "approved_by_network", RiskLevel: "normal",
			SellerMessage: "Payment complete.", Type: "authorized"}
		bt := d.newBalanceTransaction("charge", "charge", ch.ID, ch.Currency, ch.Amount, d.fee(ch.Amount, ch.Currency))
		ch.BalanceTransaction = nstr(bt.ID)
	}
	d.put("charge", ch)
	return ch
}

// newBalanceTransaction: charge funds become available two days later, as
// with Stripe's standard payout schedule in test mode; everything else at once.
func (d *Double) newBalanceTransaction(typ, category, source, currency string, amount, fee int64) *balanceTransaction {
	created := d.unix()
	bt := &balanceTransaction{
		ID:                d.newID("txn"),
		Object:            "balance_transaction",
		Amount:            amount,
		AvailableOn:       created,
		Created:           created,
		Currency:          currency,
		Fee:               fee,
		FeeDetails:        []feeDetail{},
		Net:               amount - fee,
		ReportingCategory: category,
		Source:            source,
		Type:              typ,
	}
	if typ == "charge" {
		bt.AvailableOn = created + 2*86400
	}
	if fee != 0 {
		bt.FeeDetails = append(bt.FeeDetails, feeDetail{Amount: fee, Currency: currency,
			Description: "Stripe processing fees", Type: "stripe_fee"})
	}
	d.put("balance_transaction", bt)
	return bt
}

func (d *Double) cancelPaymentIntent(c *call) response {
	pi, ok := get[*paymentIntent](d, c.args[0])
	if !ok {
		return missing("payment_intent", c.args[0], "intent")
	}
	switch pi.Status {
	case "requires_payment_method", "requires_capture", "requires_confirmation", "requires_action", "processing":
	default:
		e := unexpectedState("PaymentIntent", pi.Status, "cancel", "canceled",
			"requires_payment_method, requires_capture, requires_confirmation, requires_action, processing")
		e.PaymentIntent = pi
		return errorResponse(400, e)
	}
	now := d.unix()
	pi.Status, pi.NextAction, pi.CanceledAt = "canceled", nil, &now
	pi.CancellationReason = nstr(c.params.str("cancellation_reason"))
	d.emit(c, "payment_intent.canceled", pi)
	return d.ok(c, pi)
}

func (d *Double) listPaymentIntents(c *call) response {
	cus := c.params.str("customer")
	return d.list(c, "payment_intent", func(o object) bool {
		return cus == "" || string(o.(*paymentIntent).Customer) == cus
	})
}
