package main

import (
	"slices"
	"strings"
	"testing"
)

// -trust-uid and -trust-gid take ids or names, repeated or separated by
// commas, as shmctl's --trust-uid does; -mode an octal permission.
func TestFlagValues(t *testing.T) {
	uids := idList{what: "uid", lookup: lookupUser}
	for _, v := range []string{"1001,root", "7"} {
		if err := uids.Set(v); err != nil {
			t.Fatalf("-trust-uid %s: %v", v, err)
		}
	}
	if want := []int{1001, 0, 7}; !slices.Equal(uids.ids, want) {
		t.Fatalf("-trust-uid: %v, want %v", uids.ids, want)
	}
	gids := idList{what: "gid", lookup: lookupGroup}
	if err := gids.Set("root,4243"); err != nil || !slices.Equal(gids.ids, []int{0, 4243}) {
		t.Fatalf("-trust-gid root,4243: %v %v", gids.ids, err)
	}
	for _, tc := range []struct {
		l    *idList
		v    string
		want string
	}{
		{&uids, "no-such-user-here", `"no-such-user-here" is neither a uid nor a name of one`},
		{&gids, "no-such-group-here", `"no-such-group-here" is neither a gid nor a name of one`},
		{&uids, "-1", `"-1" is not a uid`},
	} {
		if err := tc.l.Set(tc.v); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.v, err, tc.want)
		}
	}
	var m mode
	if err := m.Set("0660"); err != nil || m != 0o660 || m.String() != "0660" {
		t.Fatalf("-mode 0660: %v %v", m, err)
	}
	for _, v := range []string{"660x", "01660", "rw"} {
		if err := m.Set(v); err == nil {
			t.Errorf("-mode %s accepted", v)
		}
	}
}
