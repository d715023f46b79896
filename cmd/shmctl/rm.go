package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

var rmCmd = &command{
	name:    "rm",
	summary: "remove a region (asks first unless --yes)",
	maxArgs: 0,
	desc: `Removes the region's file after asking for confirmation on the terminal
(answer y), unless --yes is given. Processes that have it open keep using
their mapping until they close it; new openers create a new region.
It refuses a file that is not a valid region unless --force is given.`,
	example: `shmctl -r myapp rm
shmctl -r myapp rm --yes`,
	setup: func(fs *flag.FlagSet) runner {
		yes := fs.Bool("yes", false, "do not ask for confirmation")
		force := fs.Bool("force", false, "remove the file even if it is not a valid region (of another layout version, say)")
		return func(e *env, _ []string) error {
			if e.region == "" {
				return usagef("no region given: pass -r PATH|NAME or set $%s", regionEnv)
			}
			path := shm.Path(e.region)
			what, err := describeForRemoval(e, path, *force)
			if err != nil {
				return err
			}
			if !*yes {
				fmt.Fprintf(e.stderr, "remove %s (%s)? [y/N] ", path, what)
				answer, _ := bufio.NewReader(e.stdin).ReadString('\n')
				if !strings.HasSuffix(answer, "\n") {
					fmt.Fprintln(e.stderr) // no answer typed: end the prompt's line
				}
				switch strings.ToLower(strings.TrimSpace(answer)) {
				case "y", "yes":
				default:
					return fmt.Errorf("%s not removed", path)
				}
			}
			if err := shm.Remove(path); err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "removed %s\n", path)
			return err
		}
	},
}

// describeForRemoval says what rm is about to remove, and refuses what is
// not a region unless force is set.
func describeForRemoval(e *env, path string, force bool) (string, error) {
	c, err := openCache(e)
	if err == nil {
		defer c.Close()
		n, err := c.Len()
		if err != nil {
			return "", err
		}
		s := fmt.Sprintf("%d entries, %s", n, humanBytes(c.Capacity()))
		a, err := c.Region().Attached()
		if err != nil {
			return "", err
		}
		if a--; a > 0 {
			s += fmt.Sprintf(", %s attached keep their mapping", plural(a, "process", "processes"))
		}
		return s, nil
	}
	notRegion := errors.Is(err, lru.ErrNotRegion) || errors.Is(err, lru.ErrVersion) ||
		errors.Is(err, lru.ErrCorrupt)
	if !notRegion {
		return "", err
	}
	if !force {
		return "", fmt.Errorf("%w; refusing to remove it (--force removes it anyway)", err)
	}
	st, serr := os.Lstat(path)
	if serr != nil {
		return "", serr
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file; refusing to remove it even with --force", path)
	}
	return fmt.Sprintf("not a usable region, %s", humanBytes(st.Size())), nil
}
