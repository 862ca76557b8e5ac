package campaign

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/imaging"
)

// MaxAlt bounds an image's alt text: a sentence or two, as screen readers read it.
const MaxAlt = 300

// Image is a picture of a campaign (its cover) or of a tier, kept at each of imaging.Widths.
// Every upload gets a new ID, so the bytes behind an image's URLs never change: they are
// cached forever, and replacing a picture gives it new URLs.
type Image struct {
	ID    string      `bson:"id"`
	Alt   string      `bson:"alt"`
	Sizes []ImageSize `bson:"sizes"`
}

// ImageSize is one rendition: its nominal width (its name in URLs) and what it measures.
type ImageSize struct {
	Width int `bson:"width"`
	W     int `bson:"w"`
	H     int `bson:"h"`
}

// Size returns the rendition of nominal width w (the last one if there is no such width).
func (i Image) Size(w int) ImageSize {
	for _, s := range i.Sizes {
		if s.Width == w {
			return s
		}
	}
	return i.Sizes[len(i.Sizes)-1]
}

// ImageStore (part of Store) keeps the bytes of images (GridFS) and which image a campaign or tier shows.
type ImageStore interface {
	SaveImage(ctx context.Context, id string, renditions []imaging.Rendition) error
	DeleteImage(ctx context.Context, id string) error
	ReadImage(ctx context.Context, id string, width int) ([]byte, error)
	// SetCampaignCover and SetTierImage set an image (nil removes it) if the current one is
	// still prevID ("" for none), else answer a conflict.
	SetCampaignCover(ctx context.Context, campaignID, prevID string, next *Image) error
	SetTierImage(ctx context.Context, campaignID, tierID, prevID string, next *Image) error
}

// Upload is a picture a designer sends, with the text that tells people who cannot see it
// what it shows.
type Upload struct {
	Data []byte
	Alt  string
}

// prepareImage checks an upload's alt text and bytes and makes its renditions.
func (s *Service) prepareImage(ctx context.Context, u Upload) (*Image, []imaging.Rendition, error) {
	var errs backstitch.FieldErrors
	alt := backstitch.CheckLine(&errs, "alt", u.Alt, 1, MaxAlt)
	if err := errs.Err(); err != nil {
		return nil, nil, err
	}
	// Size and type are checked before waiting for the slot: refusals cost nothing.
	if _, _, err := imaging.Check(u.Data); err != nil {
		return nil, nil, err
	}
	select {
	case s.imageSlot <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	renditions, err := imaging.Prepare(u.Data)
	<-s.imageSlot
	if err != nil {
		return nil, nil, err
	}
	img := &Image{ID: backstitch.NewID("img"), Alt: alt}
	for _, r := range renditions {
		img.Sizes = append(img.Sizes, ImageSize{Width: r.Width, W: r.W, H: r.H})
	}
	return img, renditions, nil
}

// maxImageRaces bounds how often an upload retries after losing a race with another one.
const maxImageRaces = 5

// swapImage stores img's bytes (nil: none), points the campaign or tier at it with set (a
// compare-and-set against the image the caller last saw, retried with a fresh read when
// another upload got there first), then deletes the bytes of the image it replaced. Whatever
// fails, no bytes are left that nothing points at.
func (s *Service) swapImage(ctx context.Context, current func() (*Image, error), set func(prevID string) error, img *Image, renditions []imaging.Rendition) error {
	if img != nil {
		if err := s.store.SaveImage(ctx, img.ID, renditions); err != nil {
			return err
		}
	}
	var prev *Image
	var err error
	for range maxImageRaces {
		if prev, err = current(); err != nil {
			break
		}
		prevID := ""
		if prev != nil {
			prevID = prev.ID
		}
		if err = set(prevID); backstitch.ErrorCode(err) != backstitch.CodeConflict {
			break
		}
	}
	// The request may have been cancelled meanwhile: the clean-up runs regardless.
	cleanup := context.WithoutCancel(ctx)
	gone := prev
	if err != nil {
		gone = img
	}
	if gone != nil {
		if derr := s.store.DeleteImage(cleanup, gone.ID); derr != nil {
			zerolog.Ctx(ctx).Error().Err(derr).Str("image_id", gone.ID).Msg("image bytes not deleted")
		}
	}
	return err
}

// SetCover makes an upload the cover of a campaign (its designer's or, for admins, any).
func (s *Service) SetCover(ctx context.Context, by Actor, campaignID string, u Upload) (Detail, error) {
	return s.changeCover(ctx, by, campaignID, &u)
}

// RemoveCover removes a campaign's cover.
func (s *Service) RemoveCover(ctx context.Context, by Actor, campaignID string) (Detail, error) {
	return s.changeCover(ctx, by, campaignID, nil)
}

func (s *Service) changeCover(ctx context.Context, by Actor, campaignID string, u *Upload) (Detail, error) {
	c, err := s.findForImage(ctx, by, campaignID)
	if err != nil {
		return Detail{}, err
	}
	var img *Image
	var renditions []imaging.Rendition
	if u != nil {
		if img, renditions, err = s.prepareImage(ctx, *u); err != nil {
			return Detail{}, err
		}
	}
	defer s.changed(c.ID)
	if err := s.reopenIfOwner(ctx, by, c); err != nil {
		return Detail{}, err
	}
	err = s.swapImage(ctx, func() (*Image, error) {
		fresh, err := s.store.FindCampaign(ctx, c.ID)
		return fresh.Cover, err
	}, func(prevID string) error {
		return s.store.SetCampaignCover(ctx, c.ID, prevID, img)
	}, img, renditions)
	if err != nil {
		return Detail{}, err
	}
	s.auditImage(ctx, by, c, "campaign.cover", img)
	fresh, err := s.store.FindCampaign(ctx, c.ID)
	if err != nil {
		return Detail{}, err
	}
	return s.private(ctx, fresh)
}

// SetTierImage makes an upload the picture of a tier.
func (s *Service) SetTierImage(ctx context.Context, by Actor, campaignID, tierID string, u Upload) (Tier, error) {
	return s.changeTierImage(ctx, by, campaignID, tierID, &u)
}

// RemoveTierImage removes a tier's picture.
func (s *Service) RemoveTierImage(ctx context.Context, by Actor, campaignID, tierID string) (Tier, error) {
	return s.changeTierImage(ctx, by, campaignID, tierID, nil)
}

func (s *Service) changeTierImage(ctx context.Context, by Actor, campaignID, tierID string, u *Upload) (Tier, error) {
	c, err := s.findForImage(ctx, by, campaignID)
	if err != nil {
		return Tier{}, err
	}
	if _, err := s.store.FindTier(ctx, c.ID, tierID); err != nil {
		return Tier{}, err
	}
	var img *Image
	var renditions []imaging.Rendition
	if u != nil {
		if img, renditions, err = s.prepareImage(ctx, *u); err != nil {
			return Tier{}, err
		}
	}
	defer s.changed(c.ID)
	if err := s.reopenIfOwner(ctx, by, c); err != nil {
		return Tier{}, err
	}
	err = s.swapImage(ctx, func() (*Image, error) {
		t, err := s.store.FindTier(ctx, c.ID, tierID)
		return t.Image, err
	}, func(prevID string) error {
		return s.store.SetTierImage(ctx, c.ID, tierID, prevID, img)
	}, img, renditions)
	if err != nil {
		return Tier{}, err
	}
	s.auditImage(ctx, by, c, "tier.image", img)
	return s.store.FindTier(ctx, c.ID, tierID)
}

// findForImage finds a campaign whose pictures the actor may change: its designer and admins
// (who may have to take a picture down), while the campaign can still change.
func (s *Service) findForImage(ctx context.Context, by Actor, campaignID string) (Campaign, error) {
	c, err := s.findForWrite(ctx, by, campaignID, true)
	if err != nil {
		return c, err
	}
	if !c.Status.Changeable() {
		return c, backstitch.Errorf(backstitch.CodeInvalidState, "A %s campaign's pictures can no longer change.", c.Status)
	}
	return c, nil
}

// reopenIfOwner sends a campaign in review or approved back to draft when its designer changes
// a picture, as for any other change: the admin approved the pictures as they were. An admin
// taking a picture down does not undo their own review.
func (s *Service) reopenIfOwner(ctx context.Context, by Actor, c Campaign) error {
	if !by.owns(c) {
		return nil
	}
	_, err := s.reopenForReview(ctx, by, c)
	return err
}

func (s *Service) auditImage(ctx context.Context, by Actor, c Campaign, action string, img *Image) {
	if !by.admin() || by.owns(c) {
		return
	}
	after := map[string]string{"image": "none"}
	if img != nil {
		after = map[string]string{"image": img.ID}
	}
	s.audit(ctx, backstitch.AuditEntry{Actor: by.UserID, Action: action, Target: c.ID, After: after})
}

// ShareCover returns a public campaign's cover decoded at imaging.ShareWidth, for drawing its
// share image; ok is false when the campaign has no cover.
func (s *Service) ShareCover(ctx context.Context, campaignID string) (img image.Image, ok bool, err error) {
	c, err := s.store.FindCampaign(ctx, campaignID)
	if err != nil {
		return nil, false, err
	}
	if !c.Public() {
		return nil, false, backstitch.Errorf(backstitch.CodeNotFound, "Campaign not found.")
	}
	if c.Cover == nil {
		return nil, false, nil
	}
	data, err := s.store.ReadImage(ctx, c.Cover.ID, imaging.ShareWidth)
	if err != nil {
		return nil, false, err
	}
	if img, err = jpeg.Decode(bytes.NewReader(data)); err != nil {
		return nil, false, fmt.Errorf("decode stored cover %s: %w", c.Cover.ID, err)
	}
	return img, true, nil
}

// ReadImage returns the JPEG of an image at one of imaging.Widths; the web layer serves it.
// Image ids are unguessable and images of hidden campaigns are not secret once uploaded.
func (s *Service) ReadImage(ctx context.Context, id string, width int) ([]byte, error) {
	return s.store.ReadImage(ctx, id, width)
}

// ImagePath is where an image is served at one of imaging.Widths: immutable, as every upload
// gets a new id.
func ImagePath(id string, width int) string {
	return "/images/" + id + "/" + strconv.Itoa(width) + ".jpg"
}
