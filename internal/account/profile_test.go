package account

import (
	"errors"
	"strings"
	"testing"

	"github.com/backstitch/backstitch/internal/backstitch"
)

func TestCheckProfile(t *testing.T) {
	ok := []struct {
		in   ProfileFields
		want Profile
	}{
		{ProfileFields{Name: "Ana"}, Profile{}},
		{ProfileFields{Name: " Ana ", Bio: "Linen.\r\nWool.", Website: "atelier-ana.ch", Instagram: "@atelier.ana", Location: " Genève "},
			Profile{Bio: "Linen.\nWool.", Website: "https://atelier-ana.ch", Instagram: "atelier.ana", Location: "Genève"}},
		{ProfileFields{Name: "Ana", Website: "http://atelier-ana.ch/about?x=1", Instagram: "https://www.instagram.com/atelier_ana/"},
			Profile{Website: "http://atelier-ana.ch/about?x=1", Instagram: "atelier_ana"}},
	}
	for _, tc := range ok {
		_, got, err := CheckProfile(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("%+v: %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	bad := []struct {
		in    ProfileFields
		field string
	}{
		{ProfileFields{Name: ""}, "name"},
		{ProfileFields{Name: "Ana", Website: "javascript:alert(1)"}, "website"},
		{ProfileFields{Name: "Ana", Website: "https://user:pw@atelier.ch"}, "website"},
		{ProfileFields{Name: "Ana", Website: "ftp://atelier.ch"}, "website"},
		{ProfileFields{Name: "Ana", Website: "localhost"}, "website"},
		{ProfileFields{Name: "Ana", Website: "https://" + strings.Repeat("a", 200) + ".ch"}, "website"},
		{ProfileFields{Name: "Ana", Instagram: "<script>"}, "instagram"},
		{ProfileFields{Name: "Ana", Instagram: "ana atelier"}, "instagram"},
		{ProfileFields{Name: "Ana", Instagram: strings.Repeat("a", 31)}, "instagram"},
		{ProfileFields{Name: "Ana", Bio: strings.Repeat("é", MaxBio+1)}, "bio"},
		{ProfileFields{Name: "Ana", Location: "Gen\u202eève"}, "location"},
	}
	for _, tc := range bad {
		_, _, err := CheckProfile(tc.in)
		e, ok := errors.AsType[*backstitch.Error](err)
		if !ok || e.Code != backstitch.CodeValidation || len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
			t.Errorf("%+v: %v, want a %s error", tc.in, err, tc.field)
		}
	}
}
