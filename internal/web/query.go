package web

import (
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/backstitch/backstitch/internal/backstitch"
)

// query declares the query parameters a route reads. It is the first handler of every route:
// any other parameter, or one given twice, is 422 before anything else runs, so nothing a client
// sends is silently ignored (a typo, ?q= search the API does not have, a second limit).
func query(names ...string) fiber.Handler {
	accepted := make(map[string]bool, len(names))
	for _, n := range names {
		accepted[n] = true
	}
	return func(c *fiber.Ctx) error {
		var order []string
		count := map[string]int{}
		c.Context().QueryArgs().VisitAll(func(key, _ []byte) {
			name := string(key)
			if count[name] == 0 {
				order = append(order, name)
			}
			count[name]++
		})
		var fields []backstitch.FieldError
		for _, name := range order {
			switch {
			case !accepted[name]:
				fields = append(fields, backstitch.FieldError{Field: name, Code: "unknown_parameter",
					Message: fmt.Sprintf("%q is not a query parameter of this route", name)})
			case count[name] > 1:
				fields = append(fields, backstitch.FieldError{Field: name, Code: "repeated_parameter",
					Message: fmt.Sprintf("%s is given more than once", name)})
			}
		}
		if fields != nil {
			return &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has query parameters this route does not accept.", Fields: fields}
		}
		return c.Next()
	}
}
