package stripedouble

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// listView is a list answer before rendering: the same JSON names as the
// rendered list, so expand[] paths ("data.balance_transaction") walk it as
// they walk the JSON.
type listView struct {
	Object  string   `json:"object"`
	Data    []object `json:"data"`
	HasMore bool     `json:"has_more"`
	URL     string   `json:"url"`
}

// reached holds, for one answer, every string an expand[] path reached
// while d.mu was held, with the object it named rendered at that moment
// (nil: it names no object). Expanding from it needs no lock and sees the
// state as one instant.
type reached struct {
	d        *Double
	rendered map[string][]byte
}

// reach must be called with d.mu held. It walks the Go values along each
// path the way expandPath walks their JSON (a struct field by its JSON name,
// a map by key, each element of a slice, an id by rendering what it names
// and going on from there) and renders every object found on the way.
func (d *Double) reach(v any, paths []string) *reached {
	s := &reached{d: d, rendered: map[string][]byte{}}
	for _, p := range paths {
		s.walk(reflect.ValueOf(v), strings.Split(p, "."))
	}
	return s
}

func (s *reached) walk(v reflect.Value, path []string) {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		id := v.String()
		o, ok := s.d.objects[id]
		if _, seen := s.rendered[id]; !seen {
			var b []byte
			if ok {
				b = s.d.render(o)
			}
			s.rendered[id] = b
		}
		if ok {
			// As expandPath does, the rest of the path goes on from the
			// object the id names. render brought the object itself up to
			// date, so its fields are what was rendered.
			s.walk(reflect.ValueOf(o), path)
		}
	case reflect.Struct:
		if len(path) == 0 {
			return
		}
		if f, ok := jsonField(v, path[0]); ok {
			s.walk(f, path[1:])
		}
	case reflect.Map:
		if len(path) == 0 || v.Type().Key().Kind() != reflect.String {
			return
		}
		if child := v.MapIndex(reflect.ValueOf(path[0]).Convert(v.Type().Key())); child.IsValid() {
			s.walk(child, path[1:])
		}
	case reflect.Slice, reflect.Array:
		if raw, ok := v.Interface().(json.RawMessage); ok {
			if len(raw) > 0 {
				s.walk(reflect.ValueOf(decodeOwn(raw)), path)
			}
			return
		}
		for i := 0; i < v.Len(); i++ {
			s.walk(v.Index(i), path)
		}
	}
}

// jsonFields caches, per struct type, the index of each field under its
// JSON name.
var jsonFields sync.Map // reflect.Type → map[string][]int

func jsonField(v reflect.Value, name string) (reflect.Value, bool) {
	t := v.Type()
	m, ok := jsonFields.Load(t)
	if !ok {
		names := map[string][]int{}
		for _, f := range reflect.VisibleFields(t) {
			if !f.IsExported() || (f.Anonymous && f.Tag.Get("json") == "") {
				continue
			}
			n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch n {
			case "-":
				continue
			case "":
				n = f.Name
			}
			names[n] = f.Index
		}
		m, _ = jsonFields.LoadOrStore(t, names)
	}
	idx, ok := m.(map[string][]int)[name]
	if !ok {
		return reflect.Value{}, false
	}
	f, err := v.FieldByIndexErr(idx)
	return f, err == nil
}

// expand runs expand[] on the rendered body without the lock. A string the
// walk under the lock did not reach would mean the two walks disagree; the
// answer is then expanded again under the lock, from the state of now,
// rather than left with an id unexpanded.
func (s *reached) expand(body []byte, paths []string) []byte {
	missed := false
	out := expand(body, paths, func(id string) ([]byte, bool) {
		b, seen := s.rendered[id]
		missed = missed || !seen
		return b, b != nil
	})
	if !missed {
		return out
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return expand(body, paths, s.d.lookup)
}
