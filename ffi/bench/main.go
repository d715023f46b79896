// Command bench is `make bench-lua`: it starts nginx with one worker and
// has that worker time get and set through resty.shmlru (libshmlru.so),
// ngx.shared.DICT, lua-resty-lrucache and its pureffi variant (see
// bench.lua), then prints ns/op for each.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/shmlru/shmlru/ffi/ngxrun"
	"github.com/shmlru/shmlru/shm"
)

func main() {
	n := flag.Int("n", 2000000, "iterations of each operation")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(n int) error {
	region := shm.Path(fmt.Sprintf("shmlru-bench-%d", os.Getpid()))
	defer shm.Remove(region)
	s, err := ngxrun.Start(ngxrun.Config{
		Workers: 1, Region: region, Size: "64m",
		HTTP:  "    lua_shared_dict bench 64m;",
		Extra: `        location = /bench { content_by_lua_block { ngx.say(require("bench.bench").run(tonumber(ngx.var.arg_n))) } }`,
	})
	if err != nil {
		return err
	}
	defer s.Stop()
	out, err := s.GetSlow(fmt.Sprintf("/bench?n=%d", n))
	if err != nil {
		return fmt.Errorf("%v\n%s", err, s.ErrorLog())
	}
	fmt.Printf("one nginx worker, %d iterations each, 1000 keys, 32-byte values\n%s\n", n, out)
	return nil
}
