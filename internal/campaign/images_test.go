package campaign_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"testing"
	"time"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/imaging"
	"github.com/backstitch/backstitch/internal/mongostore"
)

// ShareCover gives the share image's drawer a public campaign's cover at the share width, says
// when there is none, and hides campaigns nobody may see.
func TestShareCover(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.draft(t, ana, "Felted wool")
	var pic bytes.Buffer
	if err := jpeg.Encode(&pic, image.NewGray(image.Rect(0, 0, 3000, 2000)), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SetCover(ctx, ana, c.ID, campaign.Upload{Data: pic.Bytes(), Alt: "Felted wool"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.ShareCover(ctx, c.ID); backstitch.ErrorCode(err) != backstitch.CodeNotFound {
		t.Fatalf("a draft's cover for sharing: %v", err)
	}
	for _, step := range []struct {
		do func(context.Context, campaign.Actor, string, string) (campaign.Detail, error)
		by campaign.Actor
	}{{f.svc.Submit, ana}, {f.svc.Approve, admin}, {f.svc.Launch, ana}} {
		if _, err := step.do(ctx, step.by, c.ID, ""); err != nil {
			t.Fatal(err)
		}
	}
	img, ok, err := f.svc.ShareCover(ctx, c.ID)
	if err != nil || !ok || img.Bounds().Dx() != imaging.ShareWidth || img.Bounds().Dy() != 800 {
		t.Fatalf("share cover: ok %v, %v, err %v", ok, img.Bounds(), err)
	}
	if _, err := f.svc.RemoveCover(ctx, ana, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.svc.ShareCover(ctx, c.ID); ok || err != nil {
		t.Fatalf("no cover: ok %v, err %v", ok, err)
	}
}

// racingStore lets another upload land between an upload's read of the current cover and its
// compare-and-set, every time the race can happen: the window two racing requests hit by luck.
type racingStore struct {
	*mongostore.Store
	interleave func()
}

func (r *racingStore) SetCampaignCover(ctx context.Context, campaignID, prevID string, next *campaign.Image) error {
	if f := r.interleave; f != nil {
		r.interleave = nil
		f()
	}
	return r.Store.SetCampaignCover(ctx, campaignID, prevID, next)
}

// An upload that loses the race to another retries on the fresh state: the last one to set the
// cover wins, the other's bytes are deleted, and exactly one image is stored.
func TestRacingCoverUploadsLeaveOneImage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	store := &racingStore{Store: f.store}
	svc := campaign.NewService(store, f.clock.Now, campaign.Rules{MinDuration: time.Hour, MaxDuration: 90 * 24 * time.Hour})
	c := f.draft(t, ana, "Racing")
	pic := func(w int) []byte {
		var b bytes.Buffer
		if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, 300)), nil); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	var sneaked campaign.Detail
	store.interleave = func() {
		var err error
		if sneaked, err = svc.SetCover(ctx, ana, c.ID, campaign.Upload{Data: pic(500), Alt: "Sneaked in"}); err != nil {
			t.Fatal(err)
		}
	}
	d, err := svc.SetCover(ctx, ana, c.ID, campaign.Upload{Data: pic(600), Alt: "Last"})
	if err != nil {
		t.Fatalf("the upload that lost the race: %v", err)
	}
	if d.Campaign.Cover == nil || d.Campaign.Cover.Alt != "Last" || sneaked.Campaign.Cover == nil {
		t.Fatalf("cover %+v after the race", d.Campaign.Cover)
	}
	if n, err := f.store.CountImageFiles(ctx); err != nil || n != int64(len(imaging.Widths)) {
		t.Fatalf("%d image files after the race (%v), want %d", n, err, len(imaging.Widths))
	}
	if _, err := f.store.ReadImage(ctx, sneaked.Campaign.Cover.ID, imaging.CardWidth); backstitch.ErrorCode(err) != backstitch.CodeNotFound {
		t.Fatalf("the replaced cover's bytes: %v", err)
	}
}
