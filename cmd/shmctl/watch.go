package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

var watchCmd = &command{
	name:    "watch",
	summary: "redraw inspect's summary every second, like top",
	maxArgs: 0,
	desc: `Redraws inspect's summary and the rates since the previous frame every
--interval until interrupted (Ctrl-C), like top. On a terminal each frame
replaces the last; otherwise frames follow each other, separated by a line.
With --json, each frame is inspect's JSON report on one line (JSON Lines).
It changes nothing: no LRU order, no counter.`,
	example: `shmctl -r myapp watch
shmctl -r myapp watch --interval 5s --count 12 >> cache.log`,
	setup: func(fs *flag.FlagSet) runner {
		interval := fs.Duration("interval", time.Second, "time `D` between frames")
		count := fs.Int("count", 0, "stop after `N` frames (0 = until interrupted)")
		asJSON := fs.Bool("json", false, "print each frame as one line of JSON instead of text")
		return func(e *env, _ []string) error {
			if *interval <= 0 {
				return usagef("--interval %v: must be positive", *interval)
			}
			if *count < 0 {
				return usagef("--count %d: must be 0 (until interrupted) or more", *count)
			}
			c, err := openCache(e)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			clear := isTerminal(e.stdout)
			var prev *report
			for frame := 1; ; frame++ {
				rep, err := gather(c, false)
				if err != nil {
					return err
				}
				if *asJSON {
					err = json.NewEncoder(e.stdout).Encode(rep)
				} else {
					err = writeFrame(e.stdout, rep, prev, clear)
				}
				if err != nil {
					return err
				}
				prev = rep
				if *count > 0 && frame >= *count {
					return nil
				}
				t := time.NewTimer(*interval)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
			}
		}
	},
}

// writeFrame draws one frame: the summary and the rates since prev.
func writeFrame(w io.Writer, r, prev *report, clear bool) error {
	if clear {
		fmt.Fprint(w, "\x1b[H\x1b[2J")
	} else if prev != nil {
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "shmctl watch  %s\n", r.Time.Format("15:04:05"))
	if err := writeSummary(w, r); err != nil {
		return err
	}
	rates := "(from the next frame on)"
	if prev != nil {
		dt := r.Time.Sub(prev.Time).Seconds()
		rate := func(now, then uint64) string {
			if dt <= 0 || now < then {
				return "0"
			}
			return fmt.Sprintf("%.0f", float64(now-then)/dt)
		}
		c, p := r.Counters, prev.Counters
		rates = fmt.Sprintf("%s hits/s, %s misses/s, %s sets/s, %s deletes/s, %s evictions/s, %s expirations/s",
			rate(c.Hits, p.Hits), rate(c.Misses, p.Misses), rate(c.Sets, p.Sets),
			rate(c.Deletes, p.Deletes), rate(c.Evictions, p.Evictions), rate(c.Expirations, p.Expirations))
	}
	_, err := fmt.Fprintf(w, "%-12s  %s\n", "rates", rates)
	return err
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
