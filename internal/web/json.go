package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// decode reads a JSON body into dst, an explicit input type: unknown fields are rejected (so a
// client can never smuggle in status, owner or totals), and so is anything after the object.
func decode(c *fiber.Ctx, dst any) error {
	if ct := c.Get(fiber.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return backstitch.Errorf(backstitch.CodeUnsupportedMedia, "Send the body as application/json.")
		}
	}
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return backstitch.Errorf(backstitch.CodeMalformed, "The request needs a JSON body.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return backstitch.Errorf(backstitch.CodeMalformed, "The body must hold one JSON object and nothing after it.")
	}
	return nil
}

func decodeError(err error) error {
	if typeErr, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := typeErr.Field
		if field == "" {
			return backstitch.Errorf(backstitch.CodeMalformed, "The body must be a JSON object.")
		}
		return &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid fields.", Fields: []backstitch.FieldError{
			{Field: field, Code: "invalid_type", Message: fmt.Sprintf("%s must be %s", field, jsonKind(typeErr.Type.Kind().String()))},
		}}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		if name == "" {
			// A field error must name its field; a key of no name is no field of any request.
			return backstitch.Errorf(backstitch.CodeMalformed, "The body has a member with an empty name.")
		}
		return &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has fields this endpoint does not accept.", Fields: []backstitch.FieldError{
			{Field: name, Code: "unknown_field", Message: fmt.Sprintf("%s is not a field of this request", name)},
		}}
	}
	return backstitch.Errorf(backstitch.CodeMalformed, "The body is not valid JSON.")
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint", "uint64":
		return "a whole number"
	case "bool":
		return "true or false"
	case "struct", "map":
		return "an object"
	case "slice":
		return "a list"
	}
	return "of another type"
}

// jsonMarshal encodes a response body, ending in a newline so curl output stays readable.
func jsonMarshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return append(b, '\n'), nil
}

// reply sends v as JSON with the given status.
func reply(c *fiber.Ctx, status int, v any) error {
	b, err := jsonMarshal(v)
	if err != nil {
		return err
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}
