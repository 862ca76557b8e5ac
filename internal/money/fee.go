package money

// PlatformFee is the platform's share of one pledge's kept money (collected minus refunded, in
// minor units), rounded half up per charge. Settlement pays each designer what is left of every
// charge, and reconciliation checks the same figure, so both compute it here: the designer's total
// is exactly collected − refunds − the sum of these fees, to the minor unit.
func PlatformFee(kept, basisPoints int64) int64 { return (kept*basisPoints + 5000) / 10000 }
