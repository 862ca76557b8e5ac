package imaging

import (
	"encoding/binary"
	"image"
)

// Orientation is the EXIF Orientation tag (TIFF tag 0x0112): how a camera's stored pixels must
// be turned to stand upright. Phones store a portrait photo as a landscape sensor read-out
// tagged 6 (or 8, or 3 upside down) instead of turning the pixels; since the renditions drop
// every tag, the turn must be applied to the pixels or the picture shows on its side.
type Orientation int

// The eight values of the tag; 1 (and anything unknown) means "as stored".
const (
	OrientNormal     Orientation = 1
	OrientFlipH      Orientation = 2
	OrientRotate180  Orientation = 3
	OrientFlipV      Orientation = 4
	OrientTranspose  Orientation = 5
	OrientRotate90   Orientation = 6 // clockwise
	OrientTransverse Orientation = 7
	OrientRotate270  Orientation = 8 // clockwise, i.e. 90 counter-clockwise
)

// swapsAxes reports whether the upright picture is the stored one's height wide.
func (o Orientation) swapsAxes() bool { return o >= OrientTranspose && o <= OrientRotate270 }

// jpegOrientation reads the Orientation tag of a JPEG's EXIF block, or OrientNormal when there
// is none or it cannot be read: a damaged tag is no reason to refuse a picture.
func jpegOrientation(data []byte) Orientation {
	// Segments follow the SOI marker up to the start of scan; only APP1 "Exif" matters.
	for i := 2; i+4 <= len(data) && data[i] == 0xFF; {
		marker := data[i+1]
		if marker == 0xDA || marker == 0xD9 { // start of scan, end of image
			break
		}
		size := int(binary.BigEndian.Uint16(data[i+2 : i+4]))
		if size < 2 || i+2+size > len(data) {
			break
		}
		seg := data[i+4 : i+2+size]
		if marker == 0xE1 && len(seg) > 6 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		i += 2 + size
	}
	return OrientNormal
}

// tiffOrientation finds tag 0x0112 in the first IFD of a TIFF structure.
func tiffOrientation(t []byte) Orientation {
	if len(t) < 8 {
		return OrientNormal
	}
	var order binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		order = binary.LittleEndian
	case "MM\x00*":
		order = binary.BigEndian
	default:
		return OrientNormal
	}
	ifd := int(order.Uint32(t[4:8]))
	if ifd < 8 || ifd+2 > len(t) {
		return OrientNormal
	}
	n := int(order.Uint16(t[ifd : ifd+2]))
	for e := range n {
		at := ifd + 2 + 12*e
		if at+12 > len(t) {
			break
		}
		// An entry is tag, type, count, value; Orientation is one SHORT (type 3) held in place.
		if order.Uint16(t[at:at+2]) == 0x0112 && order.Uint16(t[at+2:at+4]) == 3 {
			if o := Orientation(order.Uint16(t[at+8 : at+10])); o >= OrientNormal && o <= OrientRotate270 {
				return o
			}
			return OrientNormal
		}
	}
	return OrientNormal
}

// orient returns img turned upright for o. It runs on the widest rendition, not the upload, so
// it costs a copy of at most ShareWidth² pixels, never of 40 megapixels.
func orient(img *image.RGBA, o Orientation) *image.RGBA {
	if o <= OrientNormal || o > OrientRotate270 {
		return img
	}
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	dw, dh := w, h
	if o.swapsAxes() {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range h {
		for x := range w {
			var dx, dy int
			switch o {
			case OrientFlipH:
				dx, dy = w-1-x, y
			case OrientRotate180:
				dx, dy = w-1-x, h-1-y
			case OrientFlipV:
				dx, dy = x, h-1-y
			case OrientTranspose:
				dx, dy = y, x
			case OrientRotate90:
				dx, dy = h-1-y, x
			case OrientTransverse:
				dx, dy = h-1-y, w-1-x
			case OrientRotate270:
				dx, dy = y, w-1-x
			}
			s, d := img.PixOffset(x, y), dst.PixOffset(dx, dy)
			copy(dst.Pix[d:d+4], img.Pix[s:s+4])
		}
	}
	return dst
}
