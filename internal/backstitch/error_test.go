package backstitch

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want Code
	}{
		{"no error", nil, ""},
		{"ours", Errorf(CodeNotFound, "gone"), CodeNotFound},
		{"ours, wrapped", fmt.Errorf("reading: %w", Errorf(CodeConflict, "busy")), CodeConflict},
		{"anything else", errors.New("disk on fire"), CodeInternal},
	} {
		if got := ErrorCode(tc.err); got != tc.want {
			t.Errorf("%s: ErrorCode = %q, want %q", tc.name, got, tc.want)
		}
	}
}
