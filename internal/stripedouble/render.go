package stripedouble

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
)

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the double's own plain structs are marshalled.
		panic(fmt.Sprintf("stripedouble: marshal %T: %v", v, err))
	}
	return b
}

func errorResponse(status int, e stripeError) response {
	return response{status: status, body: mustJSON(map[string]stripeError{"error": e})}
}

func invalid(param, message string) response {
	return errorResponse(http.StatusBadRequest, stripeError{
		Type: "invalid_request_error", Code: "parameter_invalid", Param: param, Message: message})
}

func missing(what, id, param string) response {
	return errorResponse(http.StatusNotFound, stripeError{
		Type: "invalid_request_error", Code: "resource_missing", Param: param,
		Message: fmt.Sprintf("No such %s: '%s'", what, id)})
}

// render must be called with d.mu held; it brings time-dependent fields up
// to date before the object is serialised.
func (d *Double) render(o object) []byte {
	switch x := o.(type) {
	case *balanceTransaction:
		d.refreshBalance(x)
	case *dispute:
		for _, bt := range x.BalanceTransactions {
			d.refreshBalance(bt)
		}
	case *checkoutSession:
		d.expireIfDue(x)
	}
	return mustJSON(o)
}

func (d *Double) refreshBalance(bt *balanceTransaction) {
	bt.Status = "pending"
	if d.unix() >= bt.AvailableOn {
		bt.Status = "available"
	}
}

// ok answers 200 with the object, honouring expand[].
func (d *Double) ok(c *call, o object) response {
	return response{status: http.StatusOK, body: expand(d.render(o), c.params.list("expand"), d.lookup)}
}

// lookup renders the object an id names; it must be called with d.mu held.
func (d *Double) lookup(id string) ([]byte, bool) {
	o, ok := d.objects[id]
	if !ok {
		return nil, false
	}
	return d.render(o), true
}

// expand replaces ids by the objects they name along each dotted path, as
// Stripe's expand[] does (e.g. "latest_charge.balance_transaction", or
// "data.latest_charge" on a list). lookup renders the object an id names.
func expand(body []byte, paths []string, lookup func(id string) ([]byte, bool)) []byte {
	if len(paths) == 0 {
		return body
	}
	v := parseOwn(body)
	for _, p := range paths {
		v = expandPath(v, strings.Split(p, "."), lookup)
	}
	return v.appendJSON(make([]byte, 0, 2*len(body)))
}

func decodeOwn(b []byte) any {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		panic(fmt.Sprintf("stripedouble: decode own output: %v", err))
	}
	return v
}

func expandPath(n *jsonNode, path []string, lookup func(string) ([]byte, bool)) *jsonNode {
	switch n.kind {
	case 0:
		id, ok := n.str()
		if !ok {
			return n
		}
		b, ok := lookup(id)
		if !ok {
			return n
		}
		return expandPath(parseOwn(b), path, lookup)
	case '{':
		if len(path) == 0 {
			return n
		}
		if i := slices.Index(n.keys, path[0]); i >= 0 {
			n.elems[i] = expandPath(n.elems[i], path[1:], lookup)
		}
	case '[':
		for i, e := range n.elems {
			n.elems[i] = expandPath(e, path, lookup)
		}
	}
	return n
}

// seqOf recovers the creation counter from an id minted by newID.
func seqOf(id string) uint64 {
	if len(id) < 12 {
		return 0
	}
	n, _ := strconv.ParseUint(id[len(id)-12:], 10, 64)
	return n
}

// list answers a Stripe list object of one kind, newest first, with
// limit, starting_after and ending_before cursors.
func (d *Double) list(c *call, kind string, keep func(object) bool) response {
	ids := d.order[kind]
	limit := int64(10)
	if c.params.has("limit") {
		n, ok := c.params.int64("limit")
		if !ok || n < 1 || n > 100 {
			return invalid("limit", "Invalid limit: must be an integer between 1 and 100.")
		}
		limit = n
	}
	var after, before uint64
	for _, cur := range []struct {
		name string
		dst  *uint64
	}{{"starting_after", &after}, {"ending_before", &before}} {
		id := c.params.str(cur.name)
		if id == "" {
			continue
		}
		if _, ok := d.objects[id]; !ok {
			return missing("object", id, cur.name)
		}
		*cur.dst = seqOf(id)
	}
	created := createdFilter(c.params)
	matches := func(id string) bool {
		o := d.objects[id]
		return created(o.createdAt()) && (keep == nil || keep(o))
	}

	// ids are in creation order, so a cursor is a position found by binary
	// search and a page costs what it scans, not the whole collection.
	var page []object
	hasMore := false
	if before != 0 {
		// ending_before pages backwards: the items just newer than the cursor.
		for i := sort.Search(len(ids), func(i int) bool { return seqOf(ids[i]) > before }); i < len(ids); i++ {
			if !matches(ids[i]) {
				continue
			}
			if int64(len(page)) == limit {
				hasMore = true
				break
			}
			page = append(page, d.objects[ids[i]])
		}
		slices.Reverse(page)
	} else {
		top := len(ids)
		if after != 0 {
			top = sort.Search(len(ids), func(i int) bool { return seqOf(ids[i]) >= after })
		}
		for i := top - 1; i >= 0; i-- {
			if !matches(ids[i]) {
				continue
			}
			if int64(len(page)) == limit {
				hasMore = true
				break
			}
			page = append(page, d.objects[ids[i]])
		}
	}
	// Rendering reads the state, so it happens here under d.mu, with every
	// object the expand[] paths reach; decoding it all, expanding and
	// encoding again (most of a page's cost) is left to finish, which apply
	// runs after unlocking: listings side by side, as the reconciliation
	// makes them, then no longer queue behind each other's JSON.
	data := make([]json.RawMessage, len(page))
	for i, o := range page {
		data[i] = d.render(o)
	}
	paths := c.params.list("expand")
	reached := d.reach(listView{Object: "list", Data: page, HasMore: hasMore, URL: c.path}, paths)
	return response{status: http.StatusOK, finish: func() []byte {
		// The list is put together by hand: json.Marshal would check and compact each
		// rendered object again (a fifth of a page of charges' CPU), and mustJSON's output is
		// already what that gives.
		size := 64 + len(c.path)
		for _, b := range data {
			size += len(b) + 1
		}
		body := append(make([]byte, 0, size), `{"object":"list","data":[`...)
		for i, b := range data {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, b...)
		}
		body = append(body, `],"has_more":`...)
		body = strconv.AppendBool(body, hasMore)
		body = append(body, `,"url":`...)
		body = append(body, mustJSON(c.path)...)
		body = append(body, '}')
		return reached.expand(body, paths)
	}}
}

// retrieve answers GET /v1/<kind>s/{id}.
func (d *Double) retrieve(kind string) func(*call) response {
	return func(c *call) response {
		o, ok := d.objects[c.args[0]]
		if !ok || o.kind() != kind {
			return missing(kind, c.args[0], "id")
		}
		return d.ok(c, o)
	}
}

// emit records an event for the object's current state and queues it for
// webhook delivery. c is nil for changes made outside the API (dashboard
// actions), which Stripe marks with a null request id.
func (d *Double) emit(c *call, typ string, o object) {
	ev := &event{
		ID:              d.newID("evt"),
		Object:          "event",
		APIVersion:      APIVersion,
		Created:         d.unix(),
		Data:            eventData{Object: d.render(o)},
		PendingWebhooks: d.hooks.endpointCount(),
		Type:            typ,
	}
	if c != nil {
		ev.Request = eventRequest{ID: nstr(c.requestID), IdempotencyKey: nstr(c.idemKey)}
	}
	d.put("event", ev)
	d.hooks.enqueue(ev.ID, ev.Type, mustJSON(ev))
}

func (d *Double) listEvents(c *call) response {
	types := c.params.list("types")
	if t := c.params.str("type"); t != "" {
		types = append(types, t)
	}
	return d.list(c, "event", func(o object) bool {
		if len(types) == 0 {
			return true
		}
		ev := o.(*event)
		for _, t := range types {
			if t == ev.Type || (strings.HasSuffix(t, "*") && strings.HasPrefix(ev.Type, strings.TrimSuffix(t, "*"))) {
				return true
			}
		}
		return false
	})
}
