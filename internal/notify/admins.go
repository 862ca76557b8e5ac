package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"

	"github.com/backstitch/backstitch/internal/account"
	"github.com/backstitch/backstitch/internal/admin"
)

var _ admin.InviteMailer = (*Outbox)(nil)

// SendAdminInvite queues an invitation to become an admin, in the language the inviter chose
// for it (else hers). The invitation's id is the hash the store looks its token up by: hashed
// again for the message's id, and the link is dropped from the outbox once sent.
func (o *Outbox) SendAdminInvite(ctx context.Context, inv admin.Invite, inviter account.User, link string) error {
	now := o.now()
	sum := sha256.Sum256([]byte("message\x00" + inv.ID))
	return o.store.EnqueueMessage(ctx, Message{ID: "msg_invite_" + hex.EncodeToString(sum[:12]), Kind: AdminInvite,
		To: inv.Email, Lang: langOf(inv.Locale), Status: StatusQueued, DueAt: now, CreatedAt: now,
		Data: map[string]string{"inviter": inviter.Name, "invite_url": link}})
}
