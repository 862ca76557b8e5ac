package stripedouble

import (
	"sort"
	"strconv"
)

// params is the nested form that stripe-mock's parser builds from Stripe's
// bracketed form encoding: leaves are strings, `a[b]=` becomes a map, and
// `a[0]=` becomes a map keyed by index.
type params map[string]any

func (p params) str(key string) string {
	s, _ := p[key].(string)
	return s
}

func (p params) has(key string) bool {
	_, ok := p[key]
	return ok
}

func (p params) sub(key string) params {
	m, _ := p[key].(map[string]any)
	return params(m)
}

// flag reads a boolean the way Stripe does; values such as off_session's
// "one_off" and "recurring" count as true.
func (p params) flag(key string) bool {
	s, ok := p[key].(string)
	return ok && s != "" && s != "false"
}

func (p params) int64(key string) (int64, bool) {
	n, err := strconv.ParseInt(p.str(key), 10, 64)
	return n, err == nil
}

// list reads an array parameter sent either as `a[0]=x&a[1]=y` or `a[]=x`.
func (p params) list(key string) []string {
	switch v := p[key].(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			a, errA := strconv.Atoi(keys[i])
			b, errB := strconv.Atoi(keys[j])
			if errA != nil || errB != nil {
				return keys[i] < keys[j]
			}
			return a < b
		})
		out := make([]string, 0, len(keys))
		for _, k := range keys {
			if s, ok := v[k].(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// mergeMetadata applies Stripe's metadata semantics: keys are merged into the
// existing set and an empty value deletes the key.
func mergeMetadata(dst map[string]string, p params) map[string]string {
	if dst == nil {
		dst = map[string]string{}
	}
	for k, v := range p.sub("metadata") {
		s, _ := v.(string)
		if s == "" {
			delete(dst, k)
			continue
		}
		dst[k] = s
	}
	return dst
}

// createdFilter implements the `created[gt|gte|lt|lte]` or `created=<ts>`
// range filter of Stripe's list endpoints.
func createdFilter(p params) func(int64) bool {
	if exact, ok := p.int64("created"); ok {
		return func(c int64) bool { return c == exact }
	}
	r := p.sub("created")
	if r == nil {
		return func(int64) bool { return true }
	}
	// The bounds are read once, not for every object a listing scans: with
	// the listing split into ranges, one page can scan most of the charges.
	gt, hasGT := r.int64("gt")
	gte, hasGTE := r.int64("gte")
	lt, hasLT := r.int64("lt")
	lte, hasLTE := r.int64("lte")
	return func(c int64) bool {
		return (!hasGT || c > gt) && (!hasGTE || c >= gte) && (!hasLT || c < lt) && (!hasLTE || c <= lte)
	}
}
