package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wneessen/go-mail"
)

// TLS modes of an SMTP server, from the scheme of BACKSTITCH_SMTP_URL (config.SMTP).
const (
	// TLSStartTLS (smtp://): the connection must be upgraded with STARTTLS before anything is sent.
	TLSStartTLS = "starttls"
	// TLSImplicit (smtps://): TLS from the first byte.
	TLSImplicit = "tls"
	// TLSNone (smtp+insecure://): plain text, for a relay on the same host and for tests.
	TLSNone = "none"
)

// SMTPOptions say how to reach the mail server.
type SMTPOptions struct {
	Host     string
	Port     int
	TLS      string
	Username string
	Password string
	From     string
	// Domain is the right-hand side of Message-IDs: the host of BACKSTITCH_PUBLIC_URL.
	Domain  string
	Timeout time.Duration
}

// SMTP sends through go-mail.
type SMTP struct {
	client *mail.Client
	from   string
	domain string
}

// NewSMTP checks the options and builds the sender; nothing is dialled until the first message.
func NewSMTP(o SMTPOptions) (*SMTP, error) {
	opts := []mail.Option{mail.WithPort(o.Port), mail.WithTimeout(o.Timeout)}
	switch o.TLS {
	case TLSStartTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case TLSImplicit:
		opts = append(opts, mail.WithSSL())
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		return nil, fmt.Errorf("smtp: unknown TLS mode %q", o.TLS)
	}
	if o.Username != "" {
		// Auto-discovery picks the strongest mechanism the server offers, and go-mail refuses
		// PLAIN and LOGIN over a connection without TLS.
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(o.Username), mail.WithPassword(o.Password))
	}
	c, err := mail.NewClient(o.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return &SMTP{client: c, from: o.From, domain: o.Domain}, nil
}

// Send delivers one message. A refusal with a 5xx code wraps ErrPermanent; everything else (a 4xx,
// a connection refused or cut) is temporary. Once the server accepted the message, a failure to
// close the connection politely is not an error: sending again would deliver it twice.
func (s *SMTP) Send(ctx context.Context, e Envelope) error {
	m := mail.NewMsg()
	if err := m.From(s.from); err != nil {
		return fmt.Errorf("%w: from %w", ErrPermanent, err)
	}
	if err := m.To(e.To); err != nil {
		return fmt.Errorf("%w: recipient %w", ErrPermanent, err)
	}
	m.SetMessageIDWithValue(e.MessageID + "@" + s.domain)
	m.SetDate()
	m.Subject(e.Subject)
	if e.Unsubscribe != "" {
		// RFC 8058: a mail client may offer a button that POSTs "List-Unsubscribe=One-Click" to
		// the address, with no cookie and no page in between (the token in it is the authority).
		m.SetGenHeader(mail.Header("List-Unsubscribe"), "<"+e.Unsubscribe+">")
		m.SetGenHeader(mail.Header("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click")
	}
	m.SetBodyString(mail.TypeTextPlain, e.Text)
	m.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	conn, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return fmt.Errorf("connect to the mail server: %w", err)
	}
	defer func() { _ = s.client.CloseWithSMTPClient(conn) }()
	if err := s.client.SendWithSMTPClient(conn, m); err != nil {
		if se, ok := errors.AsType[*mail.SendError](err); ok && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
			return fmt.Errorf("%w: %w", ErrPermanent, err)
		}
		return err
	}
	return nil
}
