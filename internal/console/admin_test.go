package console_test

import (
	"testing"
)

func TestAdminSmoke(t *testing.T) {
	s := startSite(t, nil)
	a := s.adminVisitor("en")
	c, _ := s.flexible("Scarf <script>alert(1)</script>")
	p := s.collected(c, "Bo")
	for _, path := range []string{"/admin", "/admin/pledges?q=" + p.Backer.Email, "/admin/pledges/" + p.ID, "/admin/pledges/" + p.ID + "/refund", "/admin/reconciliations", "/admin/campaigns/" + c.ID} {
		pg := a.get(path)
		t.Logf("%s %d\n%s", path, pg.status, pg.body)
	}
}
