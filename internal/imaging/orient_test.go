package imaging

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// withOrientation splices an APP1 EXIF segment whose first IFD holds an Orientation tag after a
// JPEG's SOI, in the byte order a phone of either kind writes.
func withOrientation(jpg []byte, o Orientation, order binary.ByteOrder) []byte {
	var tiff bytes.Buffer
	if order == binary.BigEndian {
		tiff.WriteString("MM\x00*")
	} else {
		tiff.WriteString("II*\x00")
	}
	_ = binary.Write(&tiff, order, uint32(8))
	_ = binary.Write(&tiff, order, uint16(2))
	// An unrelated tag first (ImageDescription, ASCII), then Orientation: SHORT, count 1.
	_ = binary.Write(&tiff, order, []uint16{0x010E, 2})
	_ = binary.Write(&tiff, order, []uint32{1, 0})
	_ = binary.Write(&tiff, order, []uint16{0x0112, 3})
	_ = binary.Write(&tiff, order, uint32(1))
	_ = binary.Write(&tiff, order, []uint16{uint16(o), 0})
	_ = binary.Write(&tiff, order, uint32(0))
	payload := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte{}, jpg[:2]...)
	out = append(append(out, seg...), payload...)
	return append(out, jpg[2:]...)
}

// quadrants is a w×h picture whose four quarters are red, green (top), blue, white (bottom).
func quadrants(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := [2][2]color.RGBA{{{255, 0, 0, 255}, {0, 255, 0, 255}}, {{0, 0, 255, 255}, {255, 255, 255, 255}}}[y*2/h][x*2/w]
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// quadrantColours names the colour at the centre of each quarter of a decoded JPEG, top-left,
// top-right, bottom-left, bottom-right.
func quadrantColours(t *testing.T, data []byte) (w, h int, names [4]string) {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	for i, p := range []image.Point{{b.Dx() / 4, b.Dy() / 4}, {3 * b.Dx() / 4, b.Dy() / 4}, {b.Dx() / 4, 3 * b.Dy() / 4}, {3 * b.Dx() / 4, 3 * b.Dy() / 4}} {
		r, g, bl, _ := img.At(p.X, p.Y).RGBA()
		switch {
		case r > 0xC000 && g > 0xC000 && bl > 0xC000:
			names[i] = "white"
		case r > 0xC000:
			names[i] = "red"
		case g > 0xC000:
			names[i] = "green"
		case bl > 0xC000:
			names[i] = "blue"
		}
	}
	return b.Dx(), b.Dy(), names
}

func TestPrepareTurnsPhotosUpright(t *testing.T) {
	// Stored as the sensor reads it: red green / blue white, 480×360 (no rendition shrinks it
	// below its own size, so each comes out 480×360 or 360×480).
	stored := encodeJPEG(t, quadrants(480, 360))
	cases := []struct {
		o    Orientation
		want [4]string
	}{
		{OrientNormal, [4]string{"red", "green", "blue", "white"}},
		// Portrait phone photo: the stored left column is the picture's top row.
		{OrientRotate90, [4]string{"blue", "red", "white", "green"}},
		{OrientRotate270, [4]string{"green", "white", "red", "blue"}},
		{OrientRotate180, [4]string{"white", "blue", "green", "red"}},
		{OrientFlipH, [4]string{"green", "red", "white", "blue"}},
		{OrientFlipV, [4]string{"blue", "white", "red", "green"}},
		{OrientTranspose, [4]string{"red", "blue", "green", "white"}},
		{OrientTransverse, [4]string{"white", "green", "blue", "red"}},
	}
	for _, order := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, tc := range cases {
			in := withOrientation(stored, tc.o, order)
			if got := jpegOrientation(in); got != tc.o {
				t.Fatalf("%v orientation %d read as %d", order, tc.o, got)
			}
			out, err := Prepare(in)
			if err != nil {
				t.Fatal(err)
			}
			wantW, wantH := 480, 360
			if tc.o.swapsAxes() {
				wantW, wantH = 360, 480
			}
			for _, r := range out {
				w, h, got := quadrantColours(t, r.JPEG)
				if w != wantW || h != wantH || r.W != w || r.H != h || got != tc.want {
					t.Errorf("%v orientation %d, %d px: %d×%d (says %d×%d) %v, want %d×%d %v", order, tc.o, r.Width, w, h, r.W, r.H, got, wantW, wantH, tc.want)
				}
				if bytes.Contains(r.JPEG, []byte("Exif")) {
					t.Errorf("orientation %d: %d px rendition keeps its EXIF", tc.o, r.Width)
				}
			}
		}
	}
}

func TestPrepareShrinksPortraitPhotosToTheirUprightWidth(t *testing.T) {
	// A 12-megapixel-like phone photo, 1600×1200 stored, 1200×1600 upright: each rendition is
	// its width wide upright, not the stored width turned (which would make it narrower).
	out, err := Prepare(withOrientation(encodeJPEG(t, quadrants(1600, 1200)), OrientRotate90, binary.LittleEndian))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out {
		w, h, got := quadrantColours(t, r.JPEG)
		if w != r.Width || h != r.Width*4/3 || got != [4]string{"blue", "red", "white", "green"} {
			t.Errorf("%d px rendition: %d×%d %v, want %d×%d upright", r.Width, w, h, got, r.Width, r.Width*4/3)
		}
	}
}

func TestOrientationOfDamagedEXIFIsIgnored(t *testing.T) {
	stored := encodeJPEG(t, quadrants(64, 48))
	good := withOrientation(stored, OrientRotate90, binary.LittleEndian)
	// Cut the EXIF block's IFD short, and claim an offset past its end: read as "as stored".
	for _, bad := range [][]byte{
		append(append(append([]byte{}, good[:30]...), 0xFF, 0xFF), good[32:]...),
		withOrientation(stored, 9, binary.LittleEndian),
		stored,
	} {
		if o := jpegOrientation(bad); o != OrientNormal && o != OrientRotate90 {
			t.Errorf("damaged EXIF read as %d", o)
		}
	}
	if o := jpegOrientation(withOrientation(stored, 9, binary.LittleEndian)); o != OrientNormal {
		t.Errorf("orientation 9 read as %d, want as stored", o)
	}
}
