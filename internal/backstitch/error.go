// Package backstitch holds what every other package shares: the one error type the service uses,
// with a small set of stable codes that the web layer maps to HTTP statuses.
package backstitch

import (
	"errors"
	"fmt"
	"time"
)

// Code is a stable, machine-readable error code. Clients switch on it, so codes are never renamed.
type Code string

const (
	CodeValidation              Code = "validation_failed"
	CodeNotFound                Code = "not_found"
	CodeUnauthenticated         Code = "unauthenticated"
	CodeForbidden               Code = "forbidden"
	CodeConflict                Code = "conflict"
	CodeInvalidState            Code = "invalid_state"
	CodeCampaignLocked          Code = "campaign_locked"
	CodeTierHasBackers          Code = "tier_has_backers"
	CodeSoldOut                 Code = "sold_out"
	CodeCampaignNotLive         Code = "campaign_not_live"
	CodeCurrencyMismatch        Code = "currency_mismatch"
	CodeAmountBelowTierPrice    Code = "amount_below_tier_price"
	CodeShippingAddressRequired Code = "shipping_address_required"
	CodePaymentFailed           Code = "payment_failed"
	CodePaymentProvider         Code = "payment_provider_unavailable"
	CodeProviderRejected        Code = "payment_provider_rejected"
	CodeProviderObjectMissing   Code = "payment_provider_object_missing"
	CodeRefundExceedsRemaining  Code = "refund_exceeds_remaining"
	CodeNotDue                  Code = "not_due"
	CodeEmailTaken              Code = "email_taken"
	// CodeLastAdmin refuses to disable the only active admin: nobody could undo it.
	CodeLastAdmin              Code = "last_admin"
	CodeRateLimited            Code = "rate_limited"
	CodeIdempotencyReused      Code = "idempotency_key_reused"
	CodeIdempotencyInFlight    Code = "idempotency_key_in_flight"
	CodeIdempotencyKeyRequired Code = "idempotency_key_required"
	CodeInvalidSignature       Code = "invalid_signature"
	CodeBodyTooLarge           Code = "body_too_large"
	CodeHeadersTooLarge        Code = "headers_too_large"
	CodeMalformed              Code = "malformed_request"
	CodeUnsupportedMedia       Code = "unsupported_media_type"
	CodeMethodNotAllowed       Code = "method_not_allowed"
	CodeUnavailable            Code = "unavailable"
	CodeInternal               Code = "internal"

	// A webhook that verifies but cannot be read: another API version than the endpoint's, a body
	// that is not an event, or an event whose object is not what its type says.
	CodeUnsupportedAPIVersion Code = "unsupported_api_version"
	CodeMalformedEvent        Code = "malformed_event"
)

// Error is an error a user may see. Message is safe to show; internal causes stay in logs.
type Error struct {
	Code    Code
	Message string
	Fields  []FieldError
	// ProviderCode is Stripe's own error code (amount_too_large, resource_missing, …) when Stripe
	// refused the request, so a client can tell Stripe's reasons apart.
	ProviderCode string
	// RetryAfter, when set, is how long the caller should wait before trying again (rate limits);
	// the web layer sends it as Retry-After.
	RetryAfter time.Duration
}

// FieldError names one bad input field (a JSON path such as "goal.amount") and why it is bad.
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("%s: %s (%d field errors, first %s: %s)", e.Code, e.Message, len(e.Fields), e.Fields[0].Field, e.Fields[0].Message)
}

// Errorf builds a user-facing error.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, CodeInternal for any other
// error, and "" for no error at all (so a nil error never reads as a failure).
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return CodeInternal
}

// FieldErrors collects validation problems so a request reports all of them at once.
type FieldErrors []FieldError

// Add records a problem with one field.
func (f *FieldErrors) Add(field, code, message string) {
	*f = append(*f, FieldError{Field: field, Code: code, Message: message})
}

// Err returns nil when nothing was recorded, else a validation error carrying every field.
func (f FieldErrors) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Code: CodeValidation, Message: "The request has invalid fields.", Fields: f}
}
