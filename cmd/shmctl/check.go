package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/shmlru/shmlru/lru"
)

var checkCmd = &command{
	name:    "check",
	summary: "walk every structure and report inconsistencies; --repair repairs them",
	maxArgs: 0,
	desc: `Walks every shard's LRU queue, entry storage, hash chains, free lists and
counts, and prints each problem on its own line ("shard N: ..."): a lock left
by a process that died, and the dirty mark of a change it left half made,
are problems too. Exit status 1 when it finds one. It changes nothing: what
it finds is reported as it is, not repaired.

With --repair it first does what the next write to each shard would: it
takes over every lock whose owner died, resets a shard left mid-change (its
entries are lost, no other shard's), rebuilds an LRU queue left half relinked
(no entry is lost), and resets any shard still inconsistent. It prints one
line per shard repaired ("repaired shard N: what it found: what it did"),
then the check's result after the repair: exit status 0 when the cache is
clean then. Processes using the cache go on using it meanwhile.`,
	example: `shmctl -r myapp check || alert "shmlru cache corrupt"
shmctl -r myapp check --repair`,
	setup: func(fs *flag.FlagSet) runner {
		repair := fs.Bool("repair", false, "repair first: take over dead owners' locks, reset or rebuild what they left, reset corrupt shards")
		asJSON := jsonFlag(fs)
		return func(e *env, _ []string) error {
			c, err := openCache(e)
			if err != nil {
				return err
			}
			defer c.Close()
			doc := checkDoc{Region: c.Path(), Problems: []problemJSON{}}
			var repaired []lru.Problem
			if *repair {
				repaired, err = c.Repair()
				doc.Repaired = &[]problemJSON{}
				for _, p := range repaired {
					*doc.Repaired = append(*doc.Repaired, problemJSON{p.Shard, p.Msg})
				}
				if err != nil {
					// Say what was done before the failure.
					if *asJSON {
						writeJSON(e.stdout, doc)
					} else {
						writeRepaired(e.stdout, repaired)
					}
					return fmt.Errorf("repair stopped: %w", err)
				}
			}
			problems, err := c.Check()
			if err != nil {
				return err
			}
			doc.OK = len(problems) == 0
			for _, p := range problems {
				doc.Problems = append(doc.Problems, problemJSON{p.Shard, p.Msg})
			}
			if *asJSON {
				if err := writeJSON(e.stdout, doc); err != nil {
					return err
				}
			} else {
				if *repair {
					writeRepaired(e.stdout, repaired)
				}
				for _, p := range problems {
					fmt.Fprintln(e.stdout, oneLine(p.String()))
				}
				if len(problems) == 0 {
					fmt.Fprintf(e.stdout, "ok: %s, %d shards, no problems\n", c.Path(), c.Geometry().Shards)
				}
			}
			switch {
			case len(problems) == 0:
				return nil
			case *repair:
				return fmt.Errorf("%s: %s after the repair (something changed the cache since; run check --repair again)",
					c.Path(), plural(len(problems), "problem remains", "problems remain"))
			}
			return fmt.Errorf("%s: %s found; 'shmctl check --repair' repairs them (resetting a shard it cannot rebuild)",
				c.Path(), plural(len(problems), "problem", "problems"))
		}
	},
}

// writeRepaired prints one line per repair, or says that none was needed.
func writeRepaired(w io.Writer, repaired []lru.Problem) {
	if len(repaired) == 0 {
		fmt.Fprintln(w, "nothing to repair")
	}
	for _, p := range repaired {
		fmt.Fprintln(w, oneLine("repaired "+p.String()))
	}
}

// checkDoc is check's JSON output.
type checkDoc struct {
	Region string `json:"region"`
	OK     bool   `json:"ok"`
	// Repaired lists what --repair did, one item per shard repaired;
	// absent without --repair.
	Repaired *[]problemJSON `json:"repaired,omitempty"`
	Problems []problemJSON  `json:"problems"` // what the check found (after the repair with --repair)
}

type problemJSON struct {
	Shard int    `json:"shard"`
	Msg   string `json:"msg"`
}
