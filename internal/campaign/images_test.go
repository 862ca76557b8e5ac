package campaign_test

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"testing"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/imaging"
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
