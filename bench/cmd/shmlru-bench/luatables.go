package main

import (
	"fmt"
)

func (r *Results) lua(keys int, op, peer string) (LuaResult, bool) {
	return find(r.Lua, func(l LuaResult) bool { return l.Keys == keys && l.Op == op && l.Peer == peer })
}

// luaTables: per key count, ns/op · Lua heap bytes/op · ratio of every
// op and peer; then the calibration loops. A run that could not measure
// says why instead.
func luaTables(r *Results) []table {
	if len(r.Lua) == 0 {
		return []table{{head: []string{"not measured"}, rows: [][]string{{r.LuaNote}}}}
	}
	var ts []table
	counts := uniq(r.Lua, func(l LuaResult) int { return l.Keys })
	for _, n := range counts {
		t := table{title: fmt.Sprintf("%s, zone %s", fmtKeys(n), luaZone(n)), head: append([]string{"op"}, luaPeers...)}
		grid(&t, luaOps, luaPeers, func(op, p string) string {
			base, hasBase := r.lua(n, op, "shmlru")
			l, ok := r.lua(n, op, p)
			switch {
			case !ok:
				return "n/a"
			case p == "shmlru":
				return fmt.Sprintf("**%s** · %.0f B", fmtNs(l.Ns), l.Bytes)
			case hasBase:
				return fmt.Sprintf("%s · %.0f B · %s", fmtNs(l.Ns), l.Bytes, fmtRatio(l.Ns/base.Ns))
			}
			return fmt.Sprintf("%s · %.0f B", fmtNs(l.Ns), l.Bytes)
		})
		ts = append(ts, t)
	}
	t := table{title: "Calibration: the loop, and a call into libshmlru.so", head: []string{"loop"}}
	for _, n := range counts {
		t.head = append(t.head, "in the "+fmtKeys(n)+" rounds")
	}
	grid(&t, luaCallOps, counts, func(op string, n int) string {
		if l, ok := r.lua(n, op, luaCalls); ok {
			return fmt.Sprintf("%s · %.0f B", fmtNs(l.Ns), l.Bytes)
		}
		return "–"
	})
	return append(ts, t)
}
