package campaign

import "encoding/json"

// UnmarshalJSON records that the field was present, and whether it was null.
func (n *Nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Null = true
		return nil
	}
	return json.Unmarshal(b, &n.Value)
}

// MarshalJSON writes the field as it was sent: null, or its value. An absent field (IsZero) is
// left out by the fields' omitzero, so decoding what was encoded gives back the same three states.
func (n Nullable[T]) MarshalJSON() ([]byte, error) {
	if n.Null {
		return []byte("null"), nil
	}
	return json.Marshal(n.Value)
}

// IsZero reports an absent field, which omitzero leaves out.
func (n Nullable[T]) IsZero() bool { return !n.Set }
