package main

import (
	"flag"
	"fmt"
)

var checkCmd = &command{
	name:    "check",
	summary: "walk every structure and report inconsistencies",
	maxArgs: 0,
	desc: `Walks every shard's LRU queue, block chains, hash chains, free list and
counts, and prints each problem on its own line ("shard N: ..."). Exit status
1 when it finds one. It changes nothing: a corrupt shard is reported, not
repaired (the next write that trips over it resets that shard).`,
	example: `shmctl -r myapp check || alert "shmlru cache corrupt"`,
	setup: func(fs *flag.FlagSet) runner {
		asJSON := jsonFlag(fs)
		return func(e *env, _ []string) error {
			c, err := openCache(e)
			if err != nil {
				return err
			}
			defer c.Close()
			problems, err := c.Check()
			if err != nil {
				return err
			}
			if *asJSON {
				doc := checkDoc{Region: c.Path(), OK: len(problems) == 0, Problems: []problemJSON{}}
				for _, p := range problems {
					doc.Problems = append(doc.Problems, problemJSON{p.Shard, p.Msg})
				}
				if err := writeJSON(e.stdout, doc); err != nil {
					return err
				}
			} else {
				for _, p := range problems {
					fmt.Fprintln(e.stdout, oneLine(p.String()))
				}
				if len(problems) == 0 {
					fmt.Fprintf(e.stdout, "ok: %s, %d shards, no problems\n", c.Path(), c.Geometry().Shards)
				}
			}
			if len(problems) > 0 {
				return fmt.Errorf("%s: %d problems found", c.Path(), len(problems))
			}
			return nil
		}
	},
}

// checkDoc is check's JSON output.
type checkDoc struct {
	Region   string        `json:"region"`
	OK       bool          `json:"ok"`
	Problems []problemJSON `json:"problems"`
}

type problemJSON struct {
	Shard int    `json:"shard"`
	Msg   string `json:"msg"`
}
