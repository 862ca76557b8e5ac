// Package notify tells people what happened to their money and their campaigns, by email, once.
//
// A change of a pledge or a campaign records the messages it owes (backstitch.Notice) on the
// document, in the same write as the change; the writer then hands them to the outbox and clears
// them, and a writer that died before doing so leaves them for the sweeper. A message's outbox id
// is derived from the change that caused it (the document, the version that change wrote, the
// kind), so handing it over twice, or from two sweepers at once, finds it there and writes no
// second one: no crash loses a message and no retry makes two. A relay on the scheduler sends
// what is due:
//
//   - it claims a batch of due messages with a conditional update that moves each one's due time
//     past a claim lease (ClaimTTL) and stamps a fresh claim id, so two relays never hold the
//     same message, and a relay that dies is replaced once the lease ends; a relay whose batch
//     takes more than half the lease (a slow server) hands the rest back rather than outlive it;
//   - it sends with the message id as the Message-ID header, then records the message as sent;
//   - a temporary failure (SMTP 4xx, a refused or dropped connection) is retried with a growing
//     delay, a permanent one (5xx) is recorded with the server's answer and never retried.
//
// The one window left is a relay that dies after the server accepted the message and before it
// recorded it as sent: the next relay sends it again once the claim lease ends. SMTP has no way to
// ask whether a message arrived, so this is at least once, and the copy carries the same
// Message-ID, which is what mail stores and clients deduplicate on (TestRelayCrashAfterSend shows
// both deliveries carry one Message-ID).
package notify

import (
	"context"
	"time"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/pledge"
)

// Kind is what a message says.
type Kind string

// The messages: to backers about their pledges, to designers about their campaigns and account.
const (
	PledgeConfirmed   Kind = "pledge_confirmed"
	PledgeChanged     Kind = "pledge_changed"
	PledgeCancelled   Kind = "pledge_cancelled"
	CampaignSucceeded Kind = "campaign_succeeded"
	CampaignFailed    Kind = "campaign_failed"
	CampaignCancelled Kind = "campaign_cancelled"
	ChargeFailed      Kind = "charge_failed"
	ChargeReminder    Kind = "charge_reminder"
	PledgeDropped     Kind = "pledge_dropped"
	RefundIssued      Kind = "refund_issued"
	FlexibleSucceeded Kind = "flexible_succeeded"

	CampaignSubmitted Kind = "campaign_submitted"
	CampaignApproved  Kind = "campaign_approved"
	CampaignRejected  Kind = "campaign_rejected"
	CampaignLaunched  Kind = "campaign_launched"
	FirstPledge       Kind = "first_pledge"
	GoalReached       Kind = "goal_reached"
	CampaignEnded     Kind = "campaign_ended"
	PayoutSent        Kind = "payout_sent"
	PasswordReset     Kind = "password_reset"
	// AdminInvite asks someone to become an admin (admins.go).
	AdminInvite Kind = "admin_invite"
	// UpdatePosted is a designer's update, one per backer (updates.go).
	UpdatePosted Kind = "update"
	// PledgesRecovered lists the manage links of an address's pledges (recover.go).
	PledgesRecovered Kind = "recover"
)

// Kinds lists every kind, for the tests that render each one in each language.
var Kinds = []Kind{PledgeConfirmed, PledgeChanged, PledgeCancelled, CampaignSucceeded, CampaignFailed, CampaignCancelled,
	ChargeFailed, ChargeReminder, PledgeDropped, RefundIssued, FlexibleSucceeded,
	CampaignSubmitted, CampaignApproved, CampaignRejected, CampaignLaunched, FirstPledge, GoalReached, CampaignEnded, PayoutSent,
	PasswordReset, UpdatePosted, PledgesRecovered, AdminInvite,
	DesignerDigest, ReviewDigest, AdminSubmitted, ReconcileFindings, SessionCancelled, SurveyReminder}

// Status is where a message is in the outbox.
type Status string

const (
	// StatusQueued: to be sent at DueAt (also while a relay holds its claim).
	StatusQueued Status = "queued"
	// StatusSent: the server accepted it.
	StatusSent Status = "sent"
	// StatusFailed: the server refused it for good, or retries ran out; LastError says why.
	StatusFailed Status = "failed"
)

// Message is one email in the outbox. Data holds the values its templates show, already
// formatted for its language, and the absolute links it carries.
type Message struct {
	ID   string            `bson:"_id"`
	Kind Kind              `bson:"kind"`
	To   string            `bson:"to"`
	Lang string            `bson:"lang"`
	Data map[string]string `bson:"data"`
	// Links are a list of links the message shows, each with its label (the manage links of
	// recovered pledges). They open something without a password, so the outbox drops them
	// once the message is sent.
	Links []Link `bson:"links,omitempty"`
	// Unsubscribe, when set, is the one-click unsubscribe address the message announces in its
	// List-Unsubscribe header (RFC 8058): updates have one, messages about money never do.
	Unsubscribe string `bson:"unsubscribe,omitempty"`
	Status      Status `bson:"status"`
	// DueAt is when a relay may next claim it; a claim moves it ClaimTTL ahead.
	DueAt     time.Time  `bson:"due_at"`
	Claim     string     `bson:"claim,omitempty"`
	Attempts  int        `bson:"attempts"`
	LastError string     `bson:"last_error,omitempty"`
	CreatedAt time.Time  `bson:"created_at"`
	SentAt    *time.Time `bson:"sent_at,omitempty"`
}

// Link is one labelled link of a message's list.
type Link struct {
	Label string `bson:"label"`
	// Detail is a second line under the label (an amount, a status).
	Detail string `bson:"detail,omitempty"`
	URL    string `bson:"url"`
}

// Store keeps the outbox, and finds what messages talk about.
type Store interface {
	// EnqueueMessage stores m; a message with its id already stored is left as it is (nil).
	EnqueueMessage(ctx context.Context, m Message) error
	// EnqueueMessages stores a batch the same way, in one request.
	EnqueueMessages(ctx context.Context, ms []Message) error
	// ClaimMessages takes up to limit of the earliest queued messages due at now, moves their
	// due time to until and stamps claim on them; none due is an empty list.
	ClaimMessages(ctx context.Context, claim string, now, until time.Time, limit int) ([]Message, error)
	// ReleaseMessages makes messages still under claim due at now again, their claim's attempt
	// not counted.
	ReleaseMessages(ctx context.Context, ids []string, claim string, now time.Time) error
	// MarkMessageSent records a queued message as sent, dropping its Links and the data named
	// in forget.
	MarkMessageSent(ctx context.Context, id string, now time.Time, forget []string) error
	// RetryMessage moves a message still under claim to due, with why it failed.
	RetryMessage(ctx context.Context, id, claim string, due time.Time, why string) error
	// FailMessage records a message still under claim as failed for good.
	FailMessage(ctx context.Context, id, claim, why string) error
	// RecentMessages lists the latest messages, newest first (the dev mailbox).
	RecentMessages(ctx context.Context, limit int) ([]Message, error)
	FindMessage(ctx context.Context, id string) (Message, error)

	FindCampaign(ctx context.Context, id string) (campaign.Campaign, error)
	FindTier(ctx context.Context, campaignID, tierID string) (campaign.Tier, error)
	FindUserByID(ctx context.Context, id string) (account.User, error)
	FindCampaignPledges(ctx context.Context, campaignID string, fn func(pledge.Pledge) error) error
}
