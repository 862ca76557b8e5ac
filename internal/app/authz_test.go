//go:build !production

package app_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

type role string

const (
	anonymous     role = "anonymous"
	otherDesigner role = "other designer"
	owner         role = "owner"
	adminRole     role = "admin"
)

// outcome is what a role may expect on a route: allowed (any status but 401/403/404), or refused
// with exactly that status.
type outcome int

const allowed outcome = 0

// expectations holds, for every API route that takes a campaign id, the outcome per role for a
// draft and for a live campaign. TestOwnershipMatrix fails on any route missing here, so a new
// route cannot ship without its authorisation rules being written down and tested.
var expectations = map[string]func(r role, live bool) outcome{
	"GET /api/v1/campaigns/:id": func(r role, live bool) outcome {
		if live || r == owner || r == adminRole {
			return allowed
		}
		return 404
	},
	// Like the campaign itself; only what each may read differs (TestUpdatesVisibility).
	"GET /api/v1/campaigns/:id/updates": func(r role, live bool) outcome {
		if live || r == owner || r == adminRole {
			return allowed
		}
		return 404
	},
	"POST /api/v1/campaigns/:id/updates":                                           designerWrite(false),
	"PATCH /api/v1/campaigns/:id":                                                  designerWrite(false),
	"POST /api/v1/campaigns/:id/tiers":                                             designerWrite(false),
	"PATCH /api/v1/campaigns/:id/tiers/:tier_id":                                   designerWrite(false),
	"DELETE /api/v1/campaigns/:id/tiers/:tier_id":                                  designerWrite(false),
	"POST /api/v1/campaigns/:id/tiers/:tier_id/sessions":                           designerWrite(false),
	"DELETE /api/v1/campaigns/:id/tiers/:tier_id/sessions/:session_id":             designerWrite(false),
	"POST /api/v1/campaigns/:id/submit":                                            designerWrite(false),
	"POST /api/v1/campaigns/:id/launch":                                            designerWrite(false),
	"POST /api/v1/campaigns/:id/cancel":                                            designerWrite(true),
	"POST /api/v1/admin/campaigns/:id/approve":                                     adminOnly,
	"POST /api/v1/admin/campaigns/:id/reject":                                      adminOnly,
	"POST /api/v1/admin/campaigns/:id/settle":                                      adminOnly,
	"GET /api/v1/campaigns/:id/settlement":                                         designerWrite(true),
	"PATCH /api/v1/campaigns/:id/tiers/:tier_id/sessions/:session_id":              designerWrite(false),
	"GET /api/v1/campaigns/:id/tiers/:tier_id/sessions/:session_id/attendance.csv": designerWrite(true),
	"GET /api/v1/campaigns/:id/exports/backers.csv":                                designerWrite(true),
	"GET /api/v1/campaigns/:id/pledges.csv":                                        designerWrite(true),
	"GET /api/v1/campaigns/:id/exports/packing.csv":                                designerWrite(true),
	"GET /api/v1/campaigns/:id/survey":                                             designerWrite(true),
	"POST /api/v1/campaigns/:id/fulfilment.csv":                                    designerWrite(false),
	// A draft has no pledges: its owner passes the ownership check and finds no such pledge.
	"PATCH /api/v1/campaigns/:id/pledges/:pledge_id/fulfilment": func(r role, live bool) outcome {
		if r == owner && !live {
			return 404
		}
		return designerWrite(false)(r, live)
	},
	"GET /api/v1/campaigns/:id/sources": designerWrite(true),
	"GET /api/v1/campaigns/:id/pledges": designerWrite(true),
	// Admins may change pictures too (to take one down).
	"PUT /api/v1/campaigns/:id/cover":                   designerWrite(true),
	"DELETE /api/v1/campaigns/:id/cover":                designerWrite(true),
	"PUT /api/v1/campaigns/:id/tiers/:tier_id/image":    designerWrite(true),
	"DELETE /api/v1/campaigns/:id/tiers/:tier_id/image": designerWrite(true),
	// Pledging needs no account: anyone may back a live campaign; drafts do not exist for backers.
	"POST /api/v1/campaigns/:id/pledges": func(_ role, live bool) outcome {
		if live {
			return allowed
		}
		return 404
	},
}

// designerWrite: anonymous 401; owner allowed; others see 404 for a draft and 403 for a public
// campaign; admins get 403 (they review, they do not edit), except where adminToo.
func designerWrite(adminToo bool) func(role, bool) outcome {
	return func(r role, live bool) outcome {
		switch {
		case r == anonymous:
			return 401
		case r == owner || (r == adminRole && adminToo):
			return allowed
		case r == adminRole || live:
			return 403
		}
		return 404
	}
}

func adminOnly(r role, _ bool) outcome {
	switch r {
	case anonymous:
		return 401
	case adminRole:
		return allowed
	}
	return 403
}

// bodies are valid requests per route, so that "allowed" means the rules let the caller through.
var bodies = map[string]any{
	"PATCH /api/v1/campaigns/:id":                map[string]any{"blurb": "Now with a hood."},
	"POST /api/v1/campaigns/:id/updates":         map[string]any{"title": "Buttons sewn", "body": "All **done**.", "visibility": "public"},
	"POST /api/v1/campaigns/:id/tiers":           map[string]any{"title": "Scarf", "kind": "physical", "price": map[string]any{"amount": 6000, "currency": "CHF"}},
	"PATCH /api/v1/campaigns/:id/tiers/:tier_id": map[string]any{"description": "Now in oat and moss."},
	"POST /api/v1/campaigns/:id/tiers/:tier_id/sessions": map[string]any{"starts_at": "2027-06-01T09:00:00Z", "ends_at": "2027-06-01T12:00:00Z",
		"timezone": "Europe/Zurich", "place": "Atelier, Genève", "capacity": 10},
	"POST /api/v1/admin/campaigns/:id/reject":                         map[string]any{"reason": "Add photos of the lining."},
	"POST /api/v1/campaigns/:id/pledges":                              map[string]any{"amount": map[string]any{"amount": 5000, "currency": "CHF"}, "backer": map[string]any{"email": "bo@example.com", "name": "Bo"}},
	"PATCH /api/v1/campaigns/:id/tiers/:tier_id/sessions/:session_id": map[string]any{"capacity": 9},
	"PATCH /api/v1/campaigns/:id/pledges/:pledge_id/fulfilment":       map[string]any{"status": "delivered"},
}

func TestOwnershipMatrix(t *testing.T) {
	s := startService(t, nil)
	ownerTok, _ := s.designer("Owner")
	otherTok, _ := s.designer("Other")
	admin := s.admin()
	tokens := map[role]string{anonymous: "", otherDesigner: otherTok, owner: ownerTok, adminRole: admin}
	picture := jpegBytes(t, 64, 64)

	var routes []string
	for _, r := range s.routes() {
		// The API's routes; the console's are walked by its own tests.
		if strings.Contains(r, "/api/v1/") && strings.Contains(r, "/campaigns/:id") {
			routes = append(routes, r)
			if expectations[r] == nil {
				t.Errorf("route %s has no ownership expectation: add it to the matrix", r)
			}
		}
	}
	if len(routes) != len(expectations) {
		t.Errorf("matrix has %d routes, the app %d", len(expectations), len(routes))
	}
	for _, route := range routes {
		method, pattern, _ := strings.Cut(route, " ")
		for _, live := range []bool{false, true} {
			for _, r := range []role{anonymous, otherDesigner, owner, adminRole} {
				// A fresh campaign per case: the allowed calls change state (submit, cancel, …).
				id, tierID, sessionID := s.campaignInState(ownerTok, admin, live, route)
				pledgeID := "plg_none"
				if strings.Contains(route, ":pledge_id") && live {
					pledgeID = s.must(201, "POST", "/api/v1/campaigns/"+id+"/pledges", "", bodies["POST /api/v1/campaigns/:id/pledges"],
						"Idempotency-Key", fmt.Sprint("matrix-pledge", r, route))["id"].(string)
				}
				path := strings.NewReplacer(":id", id, ":tier_id", tierID, ":session_id", sessionID, ":pledge_id", pledgeID).Replace(pattern)
				var res response
				if method == "PUT" { // picture uploads, the only multipart routes
					res = s.upload(method, path, tokens[r], "matrix.jpg", picture, "Matrix")
				} else {
					res = s.call(method, path, tokens[r], bodies[route], "Idempotency-Key", fmt.Sprint(route, r, live))
				}
				want := expectations[route](r, live)
				got := res.Status
				refused := got == 401 || got == 403 || got == 404
				if (want == allowed && refused) || (want != allowed && got != int(want)) {
					t.Errorf("%s as %s on a %s campaign → %d, want %s: %s", route, r, map[bool]string{false: "draft", true: "live"}[live], got, describe(want), res.Body)
				}
			}
		}
	}
}

func describe(o outcome) string {
	if o == allowed {
		return "allowed"
	}
	return strconv.Itoa(int(o))
}

// campaignInState makes a campaign with one tier, in draft or live; for approve/reject routes a
// "draft" case is a campaign in review, since that is what those routes act on. For session
// routes the tier is a workshop with one session.
func (s *service) campaignInState(owner, admin string, live bool, route string) (id, tierID, sessionID string) {
	s.t.Helper()
	if live {
		id, _ = s.liveCampaign(owner, admin, "Matrix coat")
	} else {
		id = s.must(201, "POST", "/api/v1/campaigns", owner, s.campaignBody("Matrix coat"))["id"].(string)
		s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", owner, map[string]any{
			"title": "Coat", "kind": "physical", "price": map[string]any{"amount": 32000, "currency": "CHF"}})
		if strings.Contains(route, "/admin/") {
			s.must(200, "POST", "/api/v1/campaigns/"+id+"/submit", owner, nil)
		}
	}
	if strings.Contains(route, "/sessions") {
		tierID = s.must(201, "POST", "/api/v1/campaigns/"+id+"/tiers", owner, map[string]any{
			"title": "Workshop", "kind": "experience", "price": map[string]any{"amount": 9000, "currency": "CHF"}})["id"].(string)
		sessionID = s.addSession(pledgeSetup{id: id, owner: owner}, tierID, 10*24*time.Hour, 8)
		return id, tierID, sessionID
	}
	c := s.must(200, "GET", "/api/v1/campaigns/"+id, owner, nil)
	return id, c["tiers"].([]any)[0].(map[string]any)["id"].(string), ""
}
