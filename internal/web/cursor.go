package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"sync"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
)

// A list cursor is the position of a page's last record (its id and sort keys), bound to the
// list it came from and signed with a key every instance shares. Every list pages this way:
// paging needs no lookup of the record, and a cursor the API did not give out (a hidden
// campaign's id, a forged or edited position, another list's cursor) is refused the same way,
// whatever exists behind it.

const cursorMACSize = 16

// cursorKey loads the signing key from the store once per process; a failed load is retried by
// the next request.
type cursorKey struct {
	mu  sync.Mutex
	key []byte
}

func (k *cursorKey) get(ctx context.Context, load func(context.Context, string) ([]byte, error)) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.key == nil {
		key, err := load(ctx, "list_cursor")
		if err != nil {
			return nil, err
		}
		k.key = key
	}
	return k.key, nil
}

func (s *Server) cursorMAC(ctx context.Context, list string, payload []byte) ([]byte, error) {
	key, err := s.cursorKey.get(ctx, s.store.ServerSecret)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(list))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)[:cursorMACSize], nil
}

// signCursor gives out payload, a position in the list named list, as an opaque cursor.
func (s *Server) signCursor(ctx context.Context, list string, payload []byte) (string, error) {
	mac, err := s.cursorMAC(ctx, list, payload)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(append(payload, mac...)), nil
}

// openCursor reads a cursor given out for the list named list back as its payload, which holds
// at least minPayload bytes; anything else is the same 422, whatever it names.
func (s *Server) openCursor(ctx context.Context, list, cursor string, minPayload int) ([]byte, error) {
	invalid := &backstitch.Error{Code: backstitch.CodeValidation, Message: "The request has invalid parameters.",
		Fields: []backstitch.FieldError{{Field: "cursor", Code: "invalid", Message: "cursor is not one this API gave out"}}}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(raw) < minPayload+cursorMACSize {
		return nil, invalid
	}
	payload, mac := raw[:len(raw)-cursorMACSize], raw[len(raw)-cursorMACSize:]
	want, err := s.cursorMAC(ctx, list, payload)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(mac, want) {
		return nil, invalid
	}
	return payload, nil
}

// A time-and-id cursor is the position after a record of a list sorted by a time, then by id.
func (s *Server) encodeTimeCursor(ctx context.Context, list string, at time.Time, id string) (string, error) {
	return s.signCursor(ctx, list, append(binary.BigEndian.AppendUint64(nil, uint64(at.UnixNano())), id...))
}

func (s *Server) decodeTimeCursor(ctx context.Context, list, cursor string) (time.Time, string, error) {
	payload, err := s.openCursor(ctx, list, cursor, 8)
	if err != nil {
		return time.Time{}, "", err
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(payload[:8]))).UTC(), string(payload[8:]), nil
}

// encodeCursor gives out the position after last in a campaign list named list.
func (s *Server) encodeCursor(ctx context.Context, list string, last campaign.Campaign) (string, error) {
	var launched int64
	if last.LaunchedAt != nil {
		launched = last.LaunchedAt.UnixNano()
	}
	payload := binary.BigEndian.AppendUint64(nil, uint64(last.CreatedAt.UnixNano()))
	payload = binary.BigEndian.AppendUint64(payload, uint64(launched))
	return s.signCursor(ctx, list, append(payload, last.ID...))
}

// decodeCursor reads a cursor given out for the campaign list named list, as the campaign to page after.
func (s *Server) decodeCursor(ctx context.Context, list, cursor string) (*campaign.Campaign, error) {
	payload, err := s.openCursor(ctx, list, cursor, 16)
	if err != nil {
		return nil, err
	}
	after := &campaign.Campaign{ID: string(payload[16:]),
		CreatedAt: time.Unix(0, int64(binary.BigEndian.Uint64(payload[:8]))).UTC()}
	if launched := int64(binary.BigEndian.Uint64(payload[8:16])); launched != 0 {
		t := time.Unix(0, launched).UTC()
		after.LaunchedAt = &t
	}
	return after, nil
}
