package backstitch

import "strings"

// SafeCells defuses formula injection in a CSV row: a spreadsheet runs a cell that starts with
// = + - @ (or a tab or carriage return before one) as a formula, so such a cell gets a leading
// quote. Names, addresses, tracking numbers and audit reasons come from people; none may run.
func SafeCells(r []string) []string {
	out := make([]string, len(r))
	for i, v := range r {
		if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
			v = "'" + v
		}
		out[i] = v
	}
	return out
}
