package embedded

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
)

// ScanDocs reads whole documents by _id (strings) straight from the files, in one query
// through the index IndexIDs makes, and hands fn each as the BSON FerretDB would answer for it;
// documents that do not exist are left out, order is the table's. It is the bulk find by _id
// FerretDB cannot do: it answers one bare _id per command from an index, and the settler's pages
// of pledges cost one such command per pledge, each waiting its turn for the store's one
// connection (bench/settle: one of the two commands of every charge). One SELECT is one snapshot
// (the files are in WAL mode), so a document is never seen half written. It reads FerretDB's
// storage format (see sjsonToBSON); the store's tests check it answers what FerretDB answers.
func (s *Server) ScanDocs(ctx context.Context, database, collection string, ids []string, fn func(bson.Raw) error) error {
	if len(ids) == 0 {
		return nil
	}
	db, table, release, err := s.readers.table(ctx, s.dir, database, collection)
	if err != nil || table == "" {
		return err
	}
	defer release()
	args := make([]any, len(ids))
	for i, id := range ids {
		// FerretDB keeps _id as its JSON text: the index is on that expression.
		text, err := json.Marshal(id)
		if err != nil {
			return fmt.Errorf("embedded store: read %s: %w", collection, err)
		}
		args[i] = string(text)
	}
	q := fmt.Sprintf("SELECT _ferretdb_sjson FROM %q WHERE _ferretdb_sjson->'$._id' IN (?%s)", table, strings.Repeat(", ?", len(ids)-1))
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("embedded store: read %s: %w", collection, err)
	}
	defer rows.Close()
	var text []byte
	for rows.Next() {
		if err := rows.Scan(&text); err != nil {
			return fmt.Errorf("embedded store: read %s: %w", collection, err)
		}
		doc, err := sjsonToBSON(text)
		if err != nil {
			return fmt.Errorf("embedded store: read %s: document %.80q: %w", collection, text, err)
		}
		if err := fn(doc); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("embedded store: read %s: %w", collection, err)
	}
	return nil
}

// sjsonSchema and sjsonElem are FerretDB v1.24's "sjson" schema (internal/handler/sjson): each
// stored document is a JSON object of its fields plus "$s", which gives the keys' order ("$k")
// and each field's BSON type ("t"), with the schema of nested objects ("$s"), of array items
// ("i") and binary subtypes ("s").
type sjsonSchema struct {
	Properties map[string]*sjsonElem `json:"p"`
	Keys       []string              `json:"$k"`
}

type sjsonElem struct {
	Type    string       `json:"t"`
	Schema  *sjsonSchema `json:"$s"`
	Items   []*sjsonElem `json:"i"`
	Subtype *byte        `json:"s"`
}

// sjsonToBSON turns one stored document into BSON, as FerretDB's own unmarshalling does. The
// types the service never stores (regex, timestamp) are an error rather than a guess.
func sjsonToBSON(text []byte) (bson.Raw, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(text, &fields); err != nil {
		return nil, err
	}
	var sch sjsonSchema
	if err := json.Unmarshal(fields["$s"], &sch); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	delete(fields, "$s")
	return appendSJSONDoc(nil, fields, &sch)
}

func appendSJSONDoc(dst []byte, fields map[string]json.RawMessage, sch *sjsonSchema) ([]byte, error) {
	if len(fields) != len(sch.Keys) {
		return nil, fmt.Errorf("%d fields, %d in the schema", len(fields), len(sch.Keys))
	}
	idx, dst := bsoncore.AppendDocumentStart(dst)
	for _, key := range sch.Keys {
		raw, ok := fields[key]
		if !ok {
			return nil, fmt.Errorf("field %q missing", key)
		}
		var err error
		if dst, err = appendSJSONValue(dst, key, raw, sch.Properties[key]); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	return bsoncore.AppendDocumentEnd(dst, idx)
}

func appendSJSONValue(dst []byte, key string, raw json.RawMessage, e *sjsonElem) ([]byte, error) {
	if string(raw) == "null" {
		return bsoncore.AppendNullElement(dst, key), nil
	}
	if e == nil {
		return nil, fmt.Errorf("no schema")
	}
	switch e.Type {
	case "object":
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return nil, err
		}
		sch := e.Schema
		if sch == nil {
			sch = &sjsonSchema{}
		}
		dst = bsoncore.AppendHeader(dst, bsontype.EmbeddedDocument, key)
		return appendSJSONDoc(dst, fields, sch)
	case "array":
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		if len(items) != len(e.Items) {
			return nil, fmt.Errorf("%d items, %d in the schema", len(items), len(e.Items))
		}
		dst = bsoncore.AppendHeader(dst, bsontype.Array, key)
		idx, dst := bsoncore.AppendArrayStart(dst)
		for i, item := range items {
			var err error
			if dst, err = appendSJSONValue(dst, fmt.Sprint(i), item, e.Items[i]); err != nil {
				return nil, err
			}
		}
		return bsoncore.AppendArrayEnd(dst, idx)
	case "double":
		var f float64
		err := json.Unmarshal(raw, &f)
		return bsoncore.AppendDoubleElement(dst, key, f), err
	case "string":
		var s string
		err := json.Unmarshal(raw, &s)
		return bsoncore.AppendStringElement(dst, key, s), err
	case "binData":
		var b []byte
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, err
		}
		if e.Subtype == nil {
			return nil, fmt.Errorf("binary without subtype")
		}
		return bsoncore.AppendBinaryElement(dst, key, *e.Subtype, b), nil
	case "objectId":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 12 {
			return nil, fmt.Errorf("object id %q", s)
		}
		return bsoncore.AppendObjectIDElement(dst, key, primitive.ObjectID(b)), nil
	case "bool":
		var v bool
		err := json.Unmarshal(raw, &v)
		return bsoncore.AppendBooleanElement(dst, key, v), err
	case "date":
		var ms int64
		err := json.Unmarshal(raw, &ms)
		return bsoncore.AppendDateTimeElement(dst, key, ms), err
	case "int":
		var n int32
		err := json.Unmarshal(raw, &n)
		return bsoncore.AppendInt32Element(dst, key, n), err
	case "long":
		var n int64
		err := json.Unmarshal(raw, &n)
		return bsoncore.AppendInt64Element(dst, key, n), err
	}
	return nil, fmt.Errorf("type %q not read from the files", e.Type)
}
