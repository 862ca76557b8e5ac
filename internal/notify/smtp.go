package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/wneessen/go-mail"
)

// TLS modes of an SMTP server, from the scheme of BACKSTITCH_SMTP_URL.
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

// ParseSMTPURL reads BACKSTITCH_SMTP_URL: smtp://user:pass@host:587 (STARTTLS required),
// smtps://user:pass@host:465 (TLS), smtp+insecure://host:port (no TLS). The port defaults to
// 587, 465 and 25.
func ParseSMTPURL(raw string) (SMTPOptions, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SMTPOptions{}, errors.New("is not a URL")
	}
	o := SMTPOptions{Host: u.Hostname()}
	port := 0
	switch u.Scheme {
	case "smtp":
		o.TLS, port = TLSStartTLS, 587
	case "smtps":
		o.TLS, port = TLSImplicit, 465
	case "smtp+insecure":
		o.TLS, port = TLSNone, 25
	default:
		return SMTPOptions{}, errors.New("must start with smtp:// (STARTTLS), smtps:// (TLS) or smtp+insecure:// (no TLS)")
	}
	if o.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return SMTPOptions{}, errors.New("must be scheme://[user:password@]host[:port] with nothing after the port")
	}
	if p := u.Port(); p != "" {
		if _, err := fmt.Sscanf(p, "%d", &port); err != nil || port < 1 || port > 65535 {
			return SMTPOptions{}, errors.New("has a port that is not 1 to 65535")
		}
	}
	o.Port = port
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	return o, nil
}
