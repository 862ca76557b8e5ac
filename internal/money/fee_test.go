package money

import "testing"

// The fee is rounded half up per charge, so the designer's share of each charge plus the fee is
// exactly the charge.
func TestPlatformFeeRounding(t *testing.T) {
	for _, tc := range []struct{ kept, bps, want int64 }{
		{10000, 500, 500},
		{500001, 500, 25000}, // 25,000.05 rounds down
		{500010, 500, 25001}, // 25,000.50 rounds up
		{1, 500, 0},
		{0, 500, 0},
		{12345, 0, 0},
		{12345, 10000, 12345},
	} {
		if got := PlatformFee(tc.kept, tc.bps); got != tc.want {
			t.Errorf("PlatformFee(%d, %d) = %d, want %d", tc.kept, tc.bps, got, tc.want)
		}
	}
}
