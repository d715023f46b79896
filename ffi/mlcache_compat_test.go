package ffi_test

import (
	"net/url"
	"testing"
)

// TestNginxMLCacheCompat runs ffi/t/ngx_mlcache.lua's checks that
// resty.shmlru.mlcache answers as lua-resty-mlcache does: what a callback
// returns (a value with its error, errors as strings, a traceback, a
// userdata refused, a value too large for L2 kept in L1), peek's stale
// value and ngx.now() clock, resurrect_ttl 0, a resurrected value's hit
// level 4 read back from L2 until resurrect_ttl ends, get's resty_lock_opts
// timeout, argument errors in mlcache's words, and one L1 for the
// instances of one name (in either l1_coherence mode).
func TestNginxMLCacheCompat(t *testing.T) {
	e := startLoadNginx(t)
	for _, name := range []string{"callbacks", "peek", "resurrect", "resurrected", "lock", "args", "shared_l1"} {
		t.Run(name, func(t *testing.T) {
			s, err := e.get("/mlc_"+name, url.Values{"prefix": {name}})
			if err != nil {
				t.Fatal(err)
			}
			if s != "ok" {
				t.Errorf("/mlc_%s:\n%s", name, s)
			}
		})
	}
}
