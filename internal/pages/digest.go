package pages

import (
	"net/url"
)

// The daily digest's off link: a designer turns off the summary of her live campaigns from the
// message itself, with a confirm page as for updates (link previews open every link) and RFC
// 8058's one-click POST. It stops the digest only; her other messages keep coming.

const digestOffPath = "/unsubscribe/digest"

func (p *Pages) digestOffConfirm(r *request) (view, error) {
	token := r.c.Query("token")
	if _, err := p.mail.Digests.CheckDigestOff(r.c.UserContext(), token); err != nil {
		return p.unsubscribeInvalid(r, err)
	}
	v := unsubscribeView{base: r.base, Action: digestOffPath + "?" + url.Values{"token": {token}}.Encode(),
		Body: r.loc.T("digest_off.body"), Button: r.loc.T("digest_off.confirm")}
	v.Title = r.loc.T("digest_off.title")
	r.c.Set("Referrer-Policy", "no-referrer")
	return view{name: "unsubscribe", data: v, private: true}, nil
}

// digestOff is the confirm page's button and the one-click POST, which a mail client sends
// without cookie or page: the signed token is the only authority, so there is no CSRF token.
func (p *Pages) digestOff(r *request) (view, error) {
	token := r.c.Query("token")
	if token == "" {
		token = r.c.FormValue("token")
	}
	if err := p.mail.Digests.DigestOff(r.c.UserContext(), token); err != nil {
		return p.unsubscribeInvalid(r, err)
	}
	v := unsubscribeView{base: r.base, Done: true, Body: r.loc.T("digest_off.done.body")}
	v.Title = r.loc.T("digest_off.done.title")
	r.c.Set("Referrer-Policy", "no-referrer")
	return view{name: "unsubscribe", data: v, private: true}, nil
}
