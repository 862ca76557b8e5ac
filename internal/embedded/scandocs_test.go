package embedded

import (
	"bytes"
	"context"
	"math"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// ScanDocs answers, byte for byte, the BSON FerretDB answers for the same document, for each of
// storedTypes.
// FerretDB refuses arrays in arrays and drops the connection on NaN or an infinity (v1.24), so
// neither is ever stored.
func TestScanDocsAnswersWhatFerretDBAnswers(t *testing.T) {
	s, c := startConnected(t)
	ctx := context.Background()
	coll := c.Database("d").Collection("docs")
	docs := storedTypes()
	for _, d := range docs {
		if _, err := coll.InsertOne(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	ids := []string{"a", "<b>&", "\u2028é", "missing"}
	got := map[string]bson.Raw{}
	if err := s.ScanDocs(ctx, "d", "docs", ids, func(doc bson.Raw) error {
		got[doc.Lookup("_id").StringValue()] = doc
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d documents, want 3", len(got))
	}
	for _, id := range ids[:3] {
		want, err := coll.FindOne(ctx, bson.M{"_id": id}).Raw()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[id], want) {
			t.Errorf("%q: ScanDocs\n %s\nFerretDB\n %s", id, got[id], want)
		}
	}
}

// storedTypes are documents with every type the service may store (int32 and int64 at either
// end, doubles that look integral, -0 and the extremes, dates before 1970 and with milliseconds,
// binary of several subtypes, object ids, nulls inside arrays, empty documents and arrays, nested
// documents in their field order) and strings and ids that JSON escapes (HTML characters, U+2028,
// control bytes, astral runes), with _id "a", "<b>&" and "\u2028é".
func storedTypes() []bson.D {
	return []bson.D{
		{{Key: "_id", Value: "a"}, {Key: "i32", Value: int32(-7)}, {Key: "i64", Value: int64(1)<<60 + 3}, {Key: "small64", Value: int64(5)},
			{Key: "d", Value: 3.0}, {Key: "d2", Value: 1.5}, {Key: "negz", Value: math.Copysign(0, -1)}, {Key: "big", Value: 1e300}, {Key: "tiny", Value: 5e-324},
			{Key: "s", Value: "é <>&\u2028 \"q\" \\ \x01 \U0001F600"}, {Key: "empty", Value: ""},
			{Key: "t", Value: time.Date(1960, 1, 2, 3, 4, 5, 6e6, time.UTC)}, {Key: "t2", Value: time.Date(2026, 11, 2, 9, 0, 0, 123e6, time.UTC)},
			{Key: "bin", Value: primitive.Binary{Subtype: 0, Data: []byte{0, 1, 2, 255}}}, {Key: "bin4", Value: primitive.Binary{Subtype: 4, Data: bytes.Repeat([]byte{7}, 16)}},
			{Key: "binempty", Value: primitive.Binary{Subtype: 0, Data: []byte{}}},
			{Key: "oid", Value: primitive.NewObjectID()}, {Key: "b", Value: true}, {Key: "n", Value: nil},
			{Key: "z", Value: bson.D{}}, {Key: "arr", Value: bson.A{}}, {Key: "nested", Value: bson.A{int32(1), nil, math.Copysign(0, -1), bson.D{{Key: "y", Value: 1}, {Key: "x", Value: bson.A{"s"}}}}},
			{Key: "obj", Value: bson.D{{Key: "zz", Value: int64(1)}, {Key: "aa", Value: bson.D{{Key: "k", Value: nil}, {Key: "nz", Value: math.Copysign(0, -1)}}}}},
		},
		{{Key: "_id", Value: "<b>&"}, {Key: "v", Value: int32(1)}},
		{{Key: "_id", Value: "\u2028é"}},
	}
}
