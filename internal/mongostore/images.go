package mongostore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/gridfs"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/backstitch/backstitch/internal/backstitch"
	"github.com/backstitch/backstitch/internal/campaign"
	"github.com/backstitch/backstitch/internal/imaging"
)

// imageBucket is the GridFS bucket of campaign and tier images: images.files and images.chunks.
const imageBucket = "images"

// imageFileID is the GridFS file id of one rendition: the image id and its nominal width, so a
// rendition is found, and deleted, without a lookup by name.
func imageFileID(imageID string, width int) string { return imageID + "/" + strconv.Itoa(width) }

// newImageBucket opens the bucket. A Bucket keeps deadlines and buffers on itself, so writes
// each get their own (see SaveImage); reads share one that nobody sets a deadline on.
func (s *Store) newImageBucket() *gridfs.Bucket {
	b, _ := gridfs.NewBucket(s.db, options.GridFSBucket().SetName(imageBucket)) // never fails
	return b
}

// SaveImage stores every rendition of a new image. A failure part way leaves nothing behind.
func (s *Store) SaveImage(ctx context.Context, id string, renditions []imaging.Rendition) (err error) {
	b := s.newImageBucket()
	if d, ok := ctx.Deadline(); ok {
		_ = b.SetWriteDeadline(d)
	}
	defer func() {
		if err != nil {
			if derr := s.DeleteImage(context.WithoutCancel(ctx), id); derr != nil {
				err = errors.Join(err, derr)
			}
		}
	}()
	for _, r := range renditions {
		meta := options.GridFSUpload().SetMetadata(bson.M{"content_type": "image/jpeg", "width": r.W, "height": r.H})
		if err := b.UploadFromStreamWithID(imageFileID(id, r.Width), imageFileID(id, r.Width)+".jpg", bytes.NewReader(r.JPEG), meta); err != nil {
			return storeError("store image %s at %d px: %w", id, r.Width, err)
		}
	}
	return nil
}

// DeleteImage removes every rendition of an image (each is kept at every one of imaging.Widths);
// renditions already gone are no error, so a delete interrupted half way can be run again.
func (s *Store) DeleteImage(ctx context.Context, id string) error {
	b := s.newImageBucket()
	for _, w := range imaging.Widths {
		if err := b.DeleteContext(ctx, imageFileID(id, w)); err != nil && !errors.Is(err, gridfs.ErrFileNotFound) {
			return storeError("delete image %s at %d px: %w", id, w, err)
		}
	}
	return nil
}

// ReadImage returns the JPEG of one rendition of an image.
func (s *Store) ReadImage(ctx context.Context, id string, width int) ([]byte, error) {
	ds, err := s.imageReads.OpenDownloadStream(imageFileID(id, width))
	if errors.Is(err, gridfs.ErrFileNotFound) {
		return nil, backstitch.Errorf(backstitch.CodeNotFound, "Image not found.")
	}
	if err != nil {
		return nil, storeError("open image %s at %d px: %w", id, width, err)
	}
	defer ds.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = ds.SetReadDeadline(d)
	}
	out, err := io.ReadAll(io.LimitReader(ds, imaging.MaxBytes))
	if err != nil {
		return nil, storeError("read image %s at %d px: %w", id, width, err)
	}
	return out, nil
}

// CountImageFiles counts stored renditions; tests use it to prove nothing is left behind.
func (s *Store) CountImageFiles(ctx context.Context) (int64, error) {
	files, err := s.db.Collection(imageBucket+".files").CountDocuments(ctx, bson.M{})
	if err != nil {
		return 0, storeError("count image files: %w", err)
	}
	chunks, err := s.db.Collection(imageBucket+".chunks").CountDocuments(ctx, bson.M{})
	if err != nil {
		return 0, storeError("count image chunks: %w", err)
	}
	if files == 0 && chunks > 0 {
		return chunks, storeError("%d image chunks without a file", chunks)
	}
	return files, nil
}

// SetCampaignCover sets (or, with next nil, removes) a campaign's cover if it is still prevID
// ("" for none): a lost race with another upload is a conflict the caller retries, so exactly
// one image ends up the cover and the caller knows which one it replaced. The version is not
// bumped: the cover is not part of what ReplaceCampaign writes, so edits and uploads never
// overwrite each other.
func (s *Store) SetCampaignCover(ctx context.Context, campaignID, prevID string, next *campaign.Image) error {
	return s.setImage(ctx, "campaigns", bson.M{"_id": campaignID}, "cover", prevID, next)
}

// SetTierImage is SetCampaignCover for a tier's image.
func (s *Store) SetTierImage(ctx context.Context, campaignID, tierID, prevID string, next *campaign.Image) error {
	return s.setImage(ctx, "tiers", bson.M{"_id": tierID, "campaign_id": campaignID}, "image", prevID, next)
}

func (s *Store) setImage(ctx context.Context, coll string, filter bson.M, field, prevID string, next *campaign.Image) error {
	if prevID == "" {
		filter[field] = nil // matches a missing field too
	} else {
		filter[field+".id"] = prevID
	}
	res, err := s.db.Collection(coll).UpdateOne(ctx, filter, bson.M{"$set": bson.M{field: next}})
	if err != nil {
		return storeError("set %s %s: %w", coll, field, err)
	}
	if res.MatchedCount == 0 {
		return backstitch.Errorf(backstitch.CodeConflict, "The image changed while this request ran; fetch it and try again.")
	}
	return nil
}
