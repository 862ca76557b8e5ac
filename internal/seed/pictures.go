package seed

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math"
	"mime/multipart"
	"net/http"
)

// Upload sends a picture with its alt text to an image route (a cover or a tier's image), as a
// designer's browser or script would.
func (c *Client) Upload(ctx context.Context, token, path string, picture []byte, alt string) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "picture.jpg")
	if err != nil {
		return err
	}
	if _, err := fw.Write(picture); err != nil {
		return err
	}
	if err := mw.WriteField("alt", alt); err != nil {
		return err
	}
	if err := mw.Close(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "PUT", c.Base+path, &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: %d: %s", path, res.StatusCode, raw)
	}
	return nil
}

// woven draws a w×h picture of woven cloth: warp threads of one colour crossing weft threads of
// another in a plain weave, lit from the top left, so the demonstration campaigns have pictures
// without binary files in the repository.
func woven(w, h int, warp, weft color.NRGBA) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	const thread = 9 // pixels per thread
	for y := range h {
		for x := range w {
			over := (x/thread+y/thread)%2 == 0
			c, along := weft, float64(x%thread)
			if over {
				c, along = warp, float64(y%thread)
			}
			// Each thread is rounder in its middle; light falls off towards the bottom right.
			shade := 0.78 + 0.22*math.Sin(math.Pi*(along+0.5)/thread)
			shade *= 1.05 - 0.2*float64(x+y)/float64(w+h)
			shade += 0.03 * math.Sin(float64(x)*0.37+float64(y)*0.11) // slub in the yarn
			px := func(v uint8) uint8 { return uint8(min(255, max(0, float64(v)*shade))) }
			img.SetNRGBA(x, y, color.NRGBA{px(c.R), px(c.G), px(c.B), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		panic(err) // encoding to memory cannot fail
	}
	return b.Bytes()
}
