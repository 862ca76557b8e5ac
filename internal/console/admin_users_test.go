//go:build !production

package console_test

import (
	"context"
	"html"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/notify"
	"github.com/backstitch/backstitch/internal/testenv"
)

// inviteLink reads the invitation mailed to email from the outbox (development keeps it there),
// as a path on the site.
func (s *site) inviteLink(email string) (path string, msg notify.Message) {
	s.t.Helper()
	msgs, err := s.store.RecentMessages(context.Background(), 100)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, m := range msgs {
		if m.To == email && m.Kind == notify.AdminInvite {
			link := m.Data["invite_url"]
			_, path, _ := strings.Cut(link, "://")
			return path[strings.IndexByte(path, '/'):], m
		}
	}
	s.t.Fatalf("no invitation to %s in the outbox", email)
	return "", notify.Message{}
}

// user reads an account by email.
func (s *site) user(email string) account.User {
	s.t.Helper()
	u, err := s.store.FindUserByEmail(context.Background(), email)
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

// invite sends an invitation from adm's console, in lang, and answers its link.
func (s *site) invite(adm *visitor, email, lang string) string {
	s.t.Helper()
	if p := adm.post("/admin/users", "/admin/users/invite", url.Values{"email": {email}, "locale": {lang}}); p.status != 303 || p.location() != "/admin/users?notice=invited" {
		s.t.Fatalf("invite %s: %d %q\n%s", email, p.status, p.location(), p.body)
	}
	link, _ := s.inviteLink(email)
	return link
}

// An admin invites another by email: the link (in the invitee's language, its token stored only
// hashed) shows the address, refuses a bad password without being spent, makes her an admin
// once, and is dead after use and after 72 hours. Every step is in the audit log.
func TestAdminInvitesAnAdminWithASingleUseLink(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	adm := s.adminVisitor("en")
	const email = "nadia.neuve@backstitch.example"
	link := s.invite(adm, email, "fr")
	_, msg := s.inviteLink(email)
	if msg.Lang != "fr" || msg.Data["inviter"] != "Rita Reviewer" {
		t.Errorf("invitation: lang %q, data %v", msg.Lang, msg.Data)
	}
	token, _ := url.ParseQuery(strings.SplitN(link, "?", 2)[1])
	// Only the token's hash is stored.
	if inv, err := s.store.FindInvite(ctx, account.TokenID(token.Get("token")), s.clock.Now()); err != nil || inv.Email != email {
		t.Fatalf("stored invitation: %+v %v", inv, err)
	}
	if _, err := s.store.FindInvite(ctx, token.Get("token"), s.clock.Now()); backstitch.ErrorCode(err) != backstitch.CodeNotFound {
		t.Fatalf("the token is stored as is: %v", err)
	}

	invitee := s.visitor("fr")
	p := invitee.get(link)
	if p.status != 200 || !strings.Contains(p.body, email) || p.header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("invitation page: %d %q", p.status, p.header.Get("Referrer-Policy"))
	}
	testenv.CheckHTML(t, "fr join", p.body, "fr")
	form := func(name, pw string) url.Values {
		return url.Values{"token": {token.Get("token")}, "name": {name}, "password": {pw}}
	}
	if p := invitee.post(link, "/admin/join", form("Nadia <script>alert(1)</script>", "short")); p.status != 422 || strings.Contains(p.body, "<script>alert") {
		t.Fatalf("short password: %d", p.status)
	} else {
		testenv.CheckHTML(t, "fr join errors", p.body, "fr")
	}
	if p := invitee.post(link, "/admin/join", form("Nadia <script>alert(1)</script>", "a long admin passphrase")); p.status != 303 || p.location() != "/admin?notice=joined" {
		t.Fatalf("join: %d %q\n%s", p.status, p.location(), p.body)
	}
	if p := invitee.get("/admin/users"); p.status != 200 || !strings.Contains(p.body, "Nadia &lt;script&gt;") || strings.Contains(p.body, "<script>alert") {
		t.Errorf("the new admin's list: %d", p.status)
	}
	u := s.user(email)
	if u.Role != account.RoleAdmin || u.Locale != "fr" {
		t.Errorf("new admin: %+v", u)
	}
	if p := adm.post("/admin/users", "/admin/users/invite", url.Values{"email": {email}}); p.status != 409 || !strings.Contains(p.body, "already exists") {
		t.Errorf("inviting an address that has an account: %d", p.status)
	}
	// Replayed: refused, in a new browser as in hers.
	for _, v := range []*visitor{invitee, s.visitor("en")} {
		if p := v.get(link); p.status != 410 || strings.Contains(p.body, email) {
			t.Errorf("replayed link: %d", p.status)
		}
		if p := v.post("/designer/login", "/admin/join", form("Mallory", "another admin passphrase")); p.status != 410 {
			t.Errorf("replayed join: %d", p.status)
		}
	}
	// Expired: refused after 72 hours, and nothing made.
	const late = "late.comer@backstitch.example"
	expired := s.invite(adm, late, "en")
	s.clock.Advance(72*time.Hour + time.Second)
	lateToken, _ := url.ParseQuery(strings.SplitN(expired, "?", 2)[1])
	v := s.visitor("en")
	if p := v.get(expired); p.status != 410 {
		t.Errorf("expired link: %d", p.status)
	}
	if p := v.post("/designer/login", "/admin/join", url.Values{"token": {lateToken.Get("token")}, "name": {"Late"}, "password": {"a long admin passphrase"}}); p.status != 410 {
		t.Errorf("expired join: %d", p.status)
	}
	if _, err := s.store.FindUserByEmail(ctx, late); backstitch.ErrorCode(err) != backstitch.CodeNotFound {
		t.Errorf("an expired invitation made an account: %v", err)
	}
	entries, err := s.store.FindAudit(ctx, backstitch.AuditFilter{Target: email, Limit: 10})
	if err != nil || len(entries) != 1 || entries[0].Action != "admin.invite" {
		t.Errorf("invitation audit: %+v %v", entries, err)
	}
	entries, err = s.store.FindAudit(ctx, backstitch.AuditFilter{Action: "admin.invite.accept", Limit: 10})
	if err != nil || len(entries) != 1 || entries[0].Target != u.ID || entries[0].Actor != u.ID {
		t.Errorf("acceptance audit: %+v %v", entries, err)
	}
}

// A disabled admin's console session and API token end at once, she cannot log in again, and the
// disabling is audited.
func TestDisabledAdminsSessionsAndTokensAreRefused(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	adm := s.adminVisitor("en")
	victim, victimUser := s.signedInAdmin("en")
	token, err := s.api.Call(ctx, 201, "POST", "/api/v1/sessions", "", map[string]string{"email": victimUser.Email, "password": adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	bearer := token["token"].(string)
	if _, err := s.api.Call(ctx, 200, "GET", "/api/v1/admin/users", bearer, nil); err != nil {
		t.Fatal(err)
	}
	if p := adm.post("/admin/users", "/admin/users/"+victimUser.ID+"/disable", url.Values{"confirm": {"yes"}}); p.status != 303 || p.location() != "/admin/users?notice=disabled" {
		t.Fatalf("disable: %d %q", p.status, p.location())
	}
	if p := victim.get("/admin/pledges"); p.status != 303 || !strings.HasPrefix(p.location(), "/designer/login") {
		t.Errorf("the disabled admin's session: %d %q", p.status, p.location())
	}
	if _, err := s.api.Call(ctx, 401, "GET", "/api/v1/admin/users", bearer, nil); err != nil {
		t.Errorf("the disabled admin's token: %v", err)
	}
	if _, err := s.api.Call(ctx, 401, "POST", "/api/v1/sessions", "", map[string]string{"email": victimUser.Email, "password": adminPassword}); err != nil {
		t.Errorf("the disabled admin logs in: %v", err)
	}
	// A session written by a log-in that raced the disabling is refused too.
	tok, sess := account.NewSession(victimUser, s.clock.Now(), time.Hour)
	if err := s.store.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := s.api.Call(ctx, 401, "GET", "/api/v1/admin/users", tok, nil); err != nil {
		t.Errorf("a late session of the disabled admin: %v", err)
	}
	p := adm.get("/admin/users")
	if !strings.Contains(p.body, "Disabled on") {
		t.Errorf("the list does not show her disabled")
	}
	entries, err := s.store.FindAudit(ctx, backstitch.AuditFilter{Action: "admin.disable", Target: victimUser.ID, Limit: 10})
	if err != nil || len(entries) != 1 || entries[0].After["status"] != "disabled" {
		t.Errorf("audit: %+v %v", entries, err)
	}
	// Again: nothing more happens, nothing more is audited.
	adm.post("/admin/users", "/admin/users/"+victimUser.ID+"/disable", url.Values{"confirm": {"yes"}})
	if entries, _ := s.store.FindAudit(ctx, backstitch.AuditFilter{Action: "admin.disable", Limit: 10}); len(entries) != 1 {
		t.Errorf("disabling twice audited %d times", len(entries))
	}
}

// Disabling an admin goes through a confirmation page that says who and what it ends; the form
// without its confirmation, or with a forged CSRF token, disables nobody.
func TestDisablingAnAdminAsksForConfirmation(t *testing.T) {
	s := startSite(t, nil)
	adm, admUser := s.signedInAdmin("en")
	victim, victimUser := s.signedInAdmin("en")
	page := "/admin/users/" + victimUser.ID + "/disable"
	list := adm.get("/admin/users")
	if !strings.Contains(list.body, `href="`+page+`"`) || strings.Contains(list.body, `action="`+page+`"`) {
		t.Fatalf("the list does not link the confirmation page, or disables at once:\n%s", list.body)
	}
	both := testenv.NewBilingual(t)
	for _, lang := range []string{"en", "fr"} {
		adm.lang = lang
		p := adm.get(page)
		if p.status != 200 || !strings.Contains(p.body, victimUser.Email) || !strings.Contains(p.body, `action="`+page+`"`) ||
			!strings.Contains(p.body, `href="/admin/users"`) || strings.Contains(p.body, "disable-self") ||
			!strings.Contains(p.body, `<span class="who">Rita Reviewer</span>`) || strings.Contains(p.body, "{usr_") {
			t.Fatalf("%s confirmation page: %d\n%s", lang, p.status, p.body)
		}
		both.Check("disable", p.body, lang)
	}
	adm.lang = "en"
	if p := adm.get(page); !strings.Contains(p.body, "Every session and API token of theirs stops working at once") {
		t.Errorf("the confirmation does not say what disabling ends")
	}
	active := func(when string) {
		t.Helper()
		if u := s.user(victimUser.Email); u.DisabledAt != nil {
			t.Fatalf("%s: the admin was disabled", when)
		}
		if p := victim.get("/admin/users"); p.status != 200 {
			t.Fatalf("%s: her session ended: %d", when, p.status)
		}
	}
	// The list's old form, with a good CSRF token but no confirmation: to the confirmation page.
	if p := adm.post("/admin/users", page, nil); p.status != 303 || p.location() != page {
		t.Errorf("without the confirmation: %d %q", p.status, p.location())
	}
	active("without the confirmation")
	confirm := adm.get(page)
	values := hidden(confirm.body)
	if values.Get("confirm") != "yes" {
		t.Fatalf("the confirmation form: %v", values)
	}
	if p := adm.do("POST", page, withToken(values, "forged")); p.status != 403 {
		t.Errorf("a forged CSRF token: %d", p.status)
	}
	active("with a forged CSRF token")
	if p := adm.post(page, page, values); p.status != 303 || p.location() != "/admin/users?notice=disabled" {
		t.Fatalf("confirmed: %d %q", p.status, p.location())
	}
	if u := s.user(victimUser.Email); u.DisabledAt == nil {
		t.Fatal("the confirmed disabling did nothing")
	}
	// Her page now has nothing to confirm; an account that is no admin is not found.
	if p := adm.get(page); p.status != 303 || p.location() != "/admin/users?notice=disabled" {
		t.Errorf("confirming a disabled admin: %d %q", p.status, p.location())
	}
	designerEmail := s.visitor("en").signUp("Ana")
	if p := adm.get("/admin/users/" + s.user(designerEmail).ID + "/disable"); p.status != 404 {
		t.Errorf("a designer's disable page: %d", p.status)
	}
	// Her own page says she will be signed out.
	if p := adm.get("/admin/users/" + admUser.ID + "/disable"); !strings.Contains(p.body, "This is you") {
		t.Errorf("her own confirmation does not say it signs her out")
	}
}

// disableOthers disables every active admin but keep, straight in the store.
func (s *site) disableOthers(keep ...string) {
	s.t.Helper()
	admins, err := s.store.ListAdmins(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	for _, u := range admins {
		if u.DisabledAt == nil && !strings.Contains(strings.Join(keep, " "), u.ID) {
			if _, err := s.store.DisableAdmin(context.Background(), u.ID, s.clock.Now()); err != nil {
				s.t.Fatal(err)
			}
		}
	}
}

// The last active admin cannot be disabled, by herself or anyone; when the last two disable each
// other at the same moment, exactly one of them stays.
func TestTheLastActiveAdminStays(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	for round := range 4 {
		a, aUser := s.signedInAdmin("en")
		b, bUser := s.signedInAdmin("en")
		aID, bID := aUser.ID, bUser.ID
		s.disableOthers(aID, bID)
		// Each gets her form (and its token) first, then both post at once.
		var wg sync.WaitGroup
		start := make(chan struct{})
		for v, target := range map[*visitor]string{a: bID, b: aID} {
			tok := html.UnescapeString(tokenField.FindStringSubmatch(v.get("/admin/users").body)[1])
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				v.do("POST", "/admin/users/"+target+"/disable", url.Values{"csrf_token": {tok}, "confirm": {"yes"}})
			}()
		}
		close(start)
		wg.Wait()
		active := 0
		for _, id := range []string{aID, bID} {
			u, err := s.store.FindUserByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if u.DisabledAt == nil {
				active++
			}
		}
		if active != 1 {
			t.Fatalf("round %d: %d of the last two admins are active", round, active)
		}
	}
	// The survivor cannot disable herself, nor can the API.
	admins, _ := s.store.ListAdmins(ctx)
	var last account.User
	for _, u := range admins {
		if u.DisabledAt == nil {
			last = u
		}
	}
	v := s.visitor("en")
	if p := v.post("/designer/login", "/designer/login", url.Values{"email": {last.Email}, "password": {adminPassword}}); p.status != 303 {
		t.Fatalf("log-in of the last admin: %d", p.status)
	}
	p := v.post("/admin/users", "/admin/users/"+last.ID+"/disable", url.Values{"confirm": {"yes"}})
	if p.status != 409 || !strings.Contains(p.body, "last active admin") {
		t.Errorf("disabling the last admin: %d", p.status)
	}
	testenv.CheckHTML(t, "en last admin", p.body, "en")
	tok, err := s.api.Call(ctx, 201, "POST", "/api/v1/sessions", "", map[string]string{"email": last.Email, "password": adminPassword})
	if err != nil {
		t.Fatal(err)
	}
	problem, err := s.api.Call(ctx, 409, "POST", "/api/v1/admin/users/"+last.ID+"/disable", tok["token"].(string), nil)
	if err != nil || problem["code"] != "last_admin" {
		t.Errorf("API: %v %v", problem, err)
	}
	if u, _ := s.store.FindUserByID(ctx, last.ID); u.DisabledAt != nil {
		t.Error("the last admin was disabled")
	}
}

// The API invites like the console: 201 without the link (it is only mailed), the same answer
// to a retry with the same Idempotency-Key and one message, 409 for an address with an account,
// 422 for a bad address or language; designers are refused.
func TestAdminInvitesOverTheAPI(t *testing.T) {
	s := startSite(t, nil)
	ctx := context.Background()
	body := map[string]any{"email": "ines.invitee@backstitch.example", "locale": "fr"}
	first, err := s.api.Call(ctx, 201, "POST", "/api/v1/admin/users/invitations", s.admin, body, "Idempotency-Key", "invite-ines")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.api.Call(ctx, 201, "POST", "/api/v1/admin/users/invitations", s.admin, body, "Idempotency-Key", "invite-ines")
	if err != nil || again["expires_at"] != first["expires_at"] || first["email"] != body["email"] || first["invite_url"] != nil {
		t.Errorf("invitation: %v, again %v %v", first, again, err)
	}
	msgs, err := s.store.RecentMessages(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if m.Kind == notify.AdminInvite {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d invitations in the outbox", n)
	}
	for want, in := range map[string]map[string]any{
		"email_taken":       {"email": s.newAdmin("Other")},
		"validation_failed": {"email": "not an address"},
	} {
		if p, err := s.api.Call(ctx, map[string]int{"email_taken": 409, "validation_failed": 422}[want], "POST", "/api/v1/admin/users/invitations", s.admin, in); err != nil || p["code"] != want {
			t.Errorf("%v: %v %v", in, p, err)
		}
	}
	if p, err := s.api.Call(ctx, 422, "POST", "/api/v1/admin/users/invitations", s.admin, map[string]any{"email": "a@b.example", "locale": "de"}); err != nil || p["code"] != "validation_failed" {
		t.Errorf("unsupported language: %v %v", p, err)
	}
	designer, err := s.api.Designer(ctx, "Mallory")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path string }{{"GET", "/api/v1/admin/users"}, {"POST", "/api/v1/admin/users/invitations"}, {"POST", "/api/v1/admin/users/usr_x/disable"}} {
		if _, err := s.api.Call(ctx, 403, c.method, c.path, designer, map[string]any{"email": "m@evil.example"}); err != nil {
			t.Errorf("%s %s as a designer: %v", c.method, c.path, err)
		}
	}
}
