package stripepay

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// decodeChargePage reads one page of a charge listing in a single pass over its bytes, taking
// the fields of chargeFields and stepping over the rest. encoding/json read each page four
// times through stripe-go (its whole-body check, then its skip to hand the page to stripe-go's
// own Unmarshaler, which checks and decodes it again) and spent most of that on the hundreds of
// fields a charge has that reconciliation never reads: 100,000 charges took 3.2 s of CPU that way.
//
// It answers what encoding/json answers for chargePage, for every page Stripe sends: keys are
// compared exactly (Stripe's are lower case; encoding/json would also take "ID" for "id"), a
// null leaves a field empty, a value of the wrong type is an error, and so is anything that is
// not JSON in the parts it steps over.
func decodeChargePage(b []byte) (chargePage, error) {
	s := &jsonScan{b: b}
	var page chargePage
	if s.null() {
		// Like any page, a null one must be all there is.
		if err := s.end(); err != nil {
			return chargePage{}, fmt.Errorf("decode a page of charges: %w", err)
		}
		return page, nil
	}
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "data":
			if s.null() {
				page.Data = nil
				return nil
			}
			if page.Data == nil {
				page.Data = make([]chargeFields, 0, listPage)
			}
			// A repeated "data" decodes into the charges already read, as encoding/json does.
			n := 0
			err := s.array(func() error {
				if n == len(page.Data) {
					page.Data = append(page.Data, chargeFields{})
				}
				n++
				return s.charge(&page.Data[n-1])
			})
			page.Data = page.Data[:n]
			return err
		case "has_more":
			return s.bool(&page.HasMore)
		}
		return s.skip()
	})
	if err == nil {
		err = s.end()
	}
	if err != nil {
		return chargePage{}, fmt.Errorf("decode a page of charges: %w", err)
	}
	return page, nil
}

// end checks that nothing but white space follows the page.
func (s *jsonScan) end() error {
	s.space()
	if s.i != len(s.b) {
		return s.fail("data after the page")
	}
	return nil
}

// charge reads one charge object (null leaves it empty).
func (s *jsonScan) charge(ch *chargeFields) error {
	if s.null() {
		return nil
	}
	return s.object(func(key []byte) error {
		switch string(key) {
		case "id":
			return s.str(&ch.ID)
		case "amount":
			return s.int(&ch.Amount)
		case "amount_refunded":
			return s.int(&ch.AmountRefunded)
		case "currency":
			return s.str(&ch.Currency)
		case "status":
			return s.str(&ch.Status)
		case "created":
			return s.int(&ch.Created)
		case "disputed":
			return s.bool(&ch.Disputed)
		case "transfer_group":
			return s.str(&ch.TransferGroup)
		case "metadata":
			if s.null() {
				ch.Metadata = nil
				return nil
			}
			if ch.Metadata == nil {
				ch.Metadata = map[string]string{}
			}
			return s.object(func(k []byte) error {
				var v string
				err := s.str(&v)
				ch.Metadata[string(k)] = v
				return err
			})
		case "payment_intent":
			return s.expandable(&ch.PaymentIntent)
		case "balance_transaction":
			return s.expandable(&ch.BalanceTransaction)
		}
		return s.skip()
	})
}

// expandable reads an id, or the object it names (its id and fee), as expandable.UnmarshalJSON.
func (s *jsonScan) expandable(e *expandable) error {
	s.space()
	switch {
	case s.null():
		*e = expandable{} // encoding/json hands null to expandable.UnmarshalJSON, which empties it
		return nil
	case s.i < len(s.b) && s.b[s.i] == '"':
		return s.str(&e.ID)
	}
	var id string
	var fee int64
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "id":
			return s.str(&id)
		case "fee":
			return s.int(&fee)
		}
		return s.skip()
	})
	e.ID, e.Fee = id, fee
	return err
}

// jsonScan reads JSON text from b at i.
type jsonScan struct {
	b []byte
	i int
}

var errEnd = errors.New("unexpected end of JSON")

func (s *jsonScan) fail(what string) error {
	if s.i >= len(s.b) {
		return errEnd
	}
	return fmt.Errorf("%s at offset %d", what, s.i)
}

func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jsonScan) consume(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// null consumes a null, if that is what comes next.
func (s *jsonScan) null() bool {
	s.space()
	if len(s.b)-s.i >= 4 && string(s.b[s.i:s.i+4]) == "null" {
		s.i += 4
		return true
	}
	return false
}

// object reads an object, calling field for each key with the scanner at its value, which
// field must consume.
func (s *jsonScan) object(field func(key []byte) error) error {
	if !s.consume('{') {
		return s.fail("not an object")
	}
	if s.consume('}') {
		return nil
	}
	for {
		// Keys are compared as they are written (switch string(key) makes no copy): a
		// charge has hundreds, of which a dozen are read.
		raw, plain, err := s.quoted()
		if err != nil {
			return err
		}
		key := raw[1 : len(raw)-1]
		if !plain || !utf8.Valid(key) {
			var k string
			if err := json.Unmarshal(raw, &k); err != nil {
				return err
			}
			key = []byte(k)
		}
		if !s.consume(':') {
			return s.fail("no colon after a key")
		}
		if err := field(key); err != nil {
			return err
		}
		if s.consume('}') {
			return nil
		}
		if !s.consume(',') {
			return s.fail("no comma between fields")
		}
	}
}

// array reads an array, calling elem with the scanner at each element, which elem must consume.
func (s *jsonScan) array(elem func() error) error {
	if !s.consume('[') {
		return s.fail("not an array")
	}
	if s.consume(']') {
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		if s.consume(']') {
			return nil
		}
		if !s.consume(',') {
			return s.fail("no comma between elements")
		}
	}
}

// str reads a string (null leaves dst as it is, as encoding/json does). Strings without escapes
// are taken as they are; the others, and those with bytes that are not UTF-8, are decoded by
// encoding/json, so they come out exactly as it decodes them.
func (s *jsonScan) str(dst *string) error {
	if s.null() {
		return nil
	}
	raw, plain, err := s.quoted()
	switch {
	case err != nil:
		return err
	case plain && utf8.Valid(raw):
		*dst = string(raw[1 : len(raw)-1])
		return nil
	}
	return json.Unmarshal(raw, dst)
}

// quoted steps over a string and returns it with its quotes, and whether it has no escapes.
func (s *jsonScan) quoted() (raw []byte, plain bool, err error) {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false, s.fail("not a string")
	}
	start := s.i
	plain = true
	for s.i++; s.i < len(s.b); s.i++ {
		switch c := s.b[s.i]; {
		case c == '"':
			s.i++
			return s.b[start:s.i], plain, nil
		case c == '\\':
			plain = false
			s.i++ // the escaped byte cannot end the string
		case c < 0x20:
			return nil, false, s.fail("control character in a string")
		}
	}
	return nil, false, errEnd
}

// literal reads a number, true, false or null and returns its text, checked to be JSON.
func (s *jsonScan) literal() ([]byte, error) {
	s.space()
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == ',' || c == '}' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			break
		}
		s.i++
	}
	lit := s.b[start:s.i]
	if len(lit) == 0 || !json.Valid(lit) {
		s.i = start
		return nil, s.fail("not a JSON value")
	}
	return lit, nil
}

// int reads an integer into an int64 (null leaves dst as it is); a fraction, an exponent or a
// value past int64 is an error, as encoding/json makes it.
func (s *jsonScan) int(dst *int64) error {
	lit, err := s.literal()
	if err != nil || string(lit) == "null" {
		return err
	}
	n, err := strconv.ParseInt(string(lit), 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an int64", lit)
	}
	*dst = n
	return nil
}

func (s *jsonScan) bool(dst *bool) error {
	lit, err := s.literal()
	switch {
	case err != nil:
		return err
	case string(lit) == "true":
		*dst = true
	case string(lit) == "false":
		*dst = false
	case string(lit) != "null":
		return fmt.Errorf("%q is not a boolean", lit)
	}
	return nil
}

// skip steps over any value, checking it is JSON.
func (s *jsonScan) skip() error {
	s.space()
	if s.i >= len(s.b) {
		return errEnd
	}
	switch s.b[s.i] {
	case '{':
		return s.object(func([]byte) error { return s.skip() })
	case '[':
		return s.array(s.skip)
	case '"':
		raw, plain, err := s.quoted()
		if err == nil && !plain && !json.Valid(raw) {
			err = s.fail("bad escape in a string")
		}
		return err
	}
	_, err := s.literal()
	return err
}
