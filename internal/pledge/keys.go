package pledge

import (
	"fmt"
	"time"
)

// Stripe idempotency keys of every write a pledge makes, in one place. Each is derived from the
// pledge id and what the request does, with its attempt number where a pledge may make the same
// kind of request more than once, so a request repeated after a crash or a timeout is the same
// request to Stripe: Stripe answers with the first result instead of acting twice.
//
// Stripe keeps a key for at least 24 hours (KeyLifetime); after that the same key is a new
// request. A request that may have been sent longer ago than that is never repeated blindly:
// the pledge first asks Stripe what became of it (see resumeCharge).

// KeyLifetime is how long Stripe is certain to remember an idempotency key.
const KeyLifetime = 24 * time.Hour

func customerKey(pledgeID string) string      { return pledgeID + "/customer" }
func setupIntentKey(pledgeID string) string   { return pledgeID + "/setup_intent" }
func paymentIntentKey(pledgeID string) string { return pledgeID + "/payment_intent" }
func cancelSetupKey(pledgeID string) string   { return pledgeID + "/setup_intent/cancel" }
func cancelPaymentKey(pledgeID string) string { return pledgeID + "/payment_intent/cancel" }
func detachCardKey(pledgeID string) string    { return pledgeID + "/payment_method/detach" }
func cancelRefundKey(pledgeID string) string  { return pledgeID + "/refund/cancel" }
func eraseCustomerKey(pledgeID string) string { return pledgeID + "/customer/erase" }

// checkoutKey is the key of the n-th Checkout Session of a pledge (the attempt counter it shares
// with confirmations): a backer back from a cancelled Checkout gets a new session, a retried
// request the same one.
func checkoutKey(pledgeID string, attempt int) string {
	return fmt.Sprintf("%s/checkout/%d", pledgeID, attempt)
}

// fixCheckoutKey is the key of the n-th Checkout Session that saves another card for a pledge in
// dunning (n counts with confirmations and checkouts, so no two sessions share a key).
func fixCheckoutKey(pledgeID string, attempt int) string {
	return fmt.Sprintf("%s/fix_checkout/%d", pledgeID, attempt)
}

// expireCheckoutKey is the key of closing one Checkout Session of a pledge.
func expireCheckoutKey(pledgeID, sessionID string) string {
	return pledgeID + "/checkout/" + sessionID + "/expire"
}

// campaignCancelledRefundKey is the key of the full refund of a pledge whose campaign was cancelled.
func campaignCancelledRefundKey(pledgeID string) string {
	return pledgeID + "/refund/campaign_cancelled"
}

// TransferKey is the key of the transfer of a pledge's share to its designer (one per pledge).
func TransferKey(pledgeID string) string { return pledgeID + "/transfer" }

// confirmKey is the key of the n-th confirmation of a pledge's checkout (each with its own
// payment method, so each its own request).
func confirmKey(pledgeID string, attempt int) string {
	return fmt.Sprintf("%s/confirm/%d", pledgeID, attempt)
}

// ChargeKey is the key of charge attempt n of a pledge: a crashed settler that retries attempt n
// repeats the very same request, so Stripe returns the first PaymentIntent.
func ChargeKey(pledgeID string, attempt int) string {
	return fmt.Sprintf("%s/charge/%d", pledgeID, attempt)
}

// refundKey is the key of the n-th refund request of a pledge.
func refundKey(pledgeID string, n int) string {
	return fmt.Sprintf("%s/refund/%d", pledgeID, n)
}

// DuplicateRefundKey is the key of the refund of a charge that belongs to no pledge's payment,
// found by reconciliation finding findingID.
func DuplicateRefundKey(findingID, chargeID string) string {
	return findingID + "/refund/" + chargeID
}
