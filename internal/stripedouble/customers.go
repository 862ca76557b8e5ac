package stripedouble

import (
	"fmt"
	"net/http"
)

func (d *Double) createCustomer(c *call) response {
	cu := &customer{
		ID:          d.newID("cus"),
		Object:      "customer",
		Created:     d.unix(),
		Description: nstr(c.params.str("description")),
		Email:       nstr(c.params.str("email")),
		Name:        nstr(c.params.str("name")),
		Phone:       nstr(c.params.str("phone")),
		Metadata:    mergeMetadata(nil, c.params),
	}
	var pm *paymentMethod
	if id := c.params.str("payment_method"); id != "" {
		var errResp *response
		if pm, errResp = d.resolvePaymentMethod(id, "payment_method"); errResp != nil {
			return *errResp
		}
		if errResp := checkAttachable(pm, cu.ID); errResp != nil {
			return *errResp
		}
	}
	d.put("customer", cu)
	d.emit(c, "customer.created", cu)
	if pm != nil {
		d.attach(c, pm, cu.ID)
	}
	if def := c.params.sub("invoice_settings").str("default_payment_method"); def != "" {
		if errResp := d.setDefaultPaymentMethod(cu, def); errResp != nil {
			return *errResp
		}
	}
	return d.ok(c, cu)
}

func (d *Double) updateCustomer(c *call) response {
	cu, ok := get[*customer](d, c.args[0])
	if !ok {
		return missing("customer", c.args[0], "id")
	}
	for key, dst := range map[string]*nstr{
		"description": &cu.Description, "email": &cu.Email, "name": &cu.Name, "phone": &cu.Phone,
	} {
		if c.params.has(key) {
			*dst = nstr(c.params.str(key))
		}
	}
	cu.Metadata = mergeMetadata(cu.Metadata, c.params)
	if inv := c.params.sub("invoice_settings"); inv.has("default_payment_method") {
		if errResp := d.setDefaultPaymentMethod(cu, inv.str("default_payment_method")); errResp != nil {
			return *errResp
		}
	}
	d.emit(c, "customer.updated", cu)
	return d.ok(c, cu)
}

func (d *Double) setDefaultPaymentMethod(cu *customer, id string) *response {
	if id != "" {
		pm, ok := get[*paymentMethod](d, id)
		if !ok || string(pm.Customer) != cu.ID {
			r := invalid("invoice_settings[default_payment_method]",
				fmt.Sprintf("No such PaymentMethod: '%s'; It does not belong to customer %s.", id, cu.ID))
			return &r
		}
	}
	cu.InvoiceSettings.DefaultPaymentMethod = nstr(id)
	return nil
}

func (d *Double) listCustomers(c *call) response {
	email := c.params.str("email")
	return d.list(c, "customer", func(o object) bool {
		return email == "" || string(o.(*customer).Email) == email
	})
}

func (d *Double) customerParam(c *call) (string, *response) {
	id := c.params.str("customer")
	if id == "" {
		return "", nil
	}
	if _, ok := get[*customer](d, id); !ok {
		r := missing("customer", id, "customer")
		return "", &r
	}
	return id, nil
}

// Payment methods.

func (d *Double) createPaymentMethod(c *call) response {
	if t := c.params.str("type"); t != "card" {
		return invalid("type", fmt.Sprintf("stripedouble only supports PaymentMethods of type card, not %q.", t))
	}
	cp := c.params.sub("card")
	number := cp.str("number")
	if number == "" {
		return invalid("card[number]",
			"stripedouble creates card PaymentMethods from card[number] (a test card number) only; "+
				"use a test id such as pm_card_visa instead.")
	}
	behavior, ok := lookupCard(number)
	if !ok {
		return errorResponse(http.StatusPaymentRequired, stripeError{
			Type: "card_error", Code: "incorrect_number", Param: "card[number]",
			Message: "Your card number is incorrect."})
	}
	expMonth, _ := cp.int64("exp_month")
	expYear, _ := cp.int64("exp_year")
	pm := d.newPaymentMethod(behavior, expMonth, expYear)
	pm.Metadata = mergeMetadata(nil, c.params)
	bd := c.params.sub("billing_details")
	pm.BillingDetails.Name = nstr(bd.str("name"))
	pm.BillingDetails.Email = nstr(bd.str("email"))
	pm.BillingDetails.Phone = nstr(bd.str("phone"))
	return d.ok(c, pm)
}

func (d *Double) newPaymentMethod(behavior card, expMonth, expYear int64) *paymentMethod {
	if expMonth == 0 {
		expMonth = 12
	}
	if expYear == 0 {
		expYear = int64(d.now().Year() + 3)
	}
	pm := &paymentMethod{
		ID:       d.newID("pm"),
		Object:   "payment_method",
		Card:     behavior.details(expMonth, expYear),
		Created:  d.unix(),
		Metadata: map[string]string{},
		Type:     "card",
		behavior: behavior,
	}
	d.put("payment_method", pm)
	return pm
}

// resolvePaymentMethod turns a PaymentMethod id or a test id such as
// pm_card_visa into a stored PaymentMethod; a test id yields a new one each
// time, as in Stripe test mode.
func (d *Double) resolvePaymentMethod(id, param string) (*paymentMethod, *response) {
	if number, ok := testTokens[id]; ok {
		behavior, _ := lookupCard(number)
		return d.newPaymentMethod(behavior, 0, 0), nil
	}
	pm, ok := get[*paymentMethod](d, id)
	if !ok {
		r := missing("PaymentMethod", id, param)
		return nil, &r
	}
	return pm, nil
}

func (d *Double) retrievePaymentMethod(c *call) response {
	pm, errResp := d.resolvePaymentMethod(c.args[0], "payment_method")
	if errResp != nil {
		return *errResp
	}
	return d.ok(c, pm)
}

func (d *Double) listPaymentMethods(c *call) response {
	cus := c.params.str("customer")
	return d.list(c, "payment_method", func(o object) bool {
		return cus == "" || string(o.(*paymentMethod).Customer) == cus
	})
}

func checkAttachable(pm *paymentMethod, customerID string) *response {
	if pm.Customer != "" && string(pm.Customer) != customerID {
		r := invalid("payment_method", fmt.Sprintf(
			"The payment method you provided has already been attached to a customer (%s).", pm.Customer))
		return &r
	}
	return nil
}

// cardError builds the 402 answer Stripe gives when a card declines.
func cardError(dec *decline, extra stripeError) response {
	extra.Type, extra.Code, extra.DeclineCode, extra.Message = "card_error", dec.code, dec.declineCode, dec.message
	extra.DocURL = "https://stripe.com/docs/error-codes/" + dec.code
	return errorResponse(http.StatusPaymentRequired, extra)
}

func (d *Double) attachPaymentMethod(c *call) response {
	pm, errResp := d.resolvePaymentMethod(c.args[0], "payment_method")
	if errResp != nil {
		return *errResp
	}
	cusID, errResp := d.customerParam(c)
	if errResp != nil {
		return *errResp
	}
	if cusID == "" {
		return invalid("customer", "Missing required param: customer.")
	}
	if errResp := checkAttachable(pm, cusID); errResp != nil {
		return *errResp
	}
	// Attaching verifies the card with the issuer, so declining cards fail
	// here already; 4000000000000341 exists to pass this step.
	if pm.behavior.decline != nil {
		return cardError(pm.behavior.decline, stripeError{Param: "card"})
	}
	if pm.Customer == "" {
		d.attach(c, pm, cusID)
	}
	return d.ok(c, pm)
}

func (d *Double) attach(c *call, pm *paymentMethod, customerID string) {
	pm.Customer = nstr(customerID)
	d.emit(c, "payment_method.attached", pm)
}

func (d *Double) detachPaymentMethod(c *call) response {
	pm, ok := get[*paymentMethod](d, c.args[0])
	if !ok {
		return missing("PaymentMethod", c.args[0], "payment_method")
	}
	if pm.Customer == "" {
		return invalid("payment_method",
			"The payment method you provided is not attached to a customer so detachment is impossible.")
	}
	if cu, ok := get[*customer](d, string(pm.Customer)); ok && cu.InvoiceSettings.DefaultPaymentMethod == nstr(pm.ID) {
		cu.InvoiceSettings.DefaultPaymentMethod = ""
	}
	pm.Customer = ""
	pm.setUp = false
	d.emit(c, "payment_method.detached", pm)
	return d.ok(c, pm)
}
