package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

var rmCmd = &command{
	name:    "rm",
	summary: "remove a region (refuses while in use; asks first unless --yes)",
	maxArgs: 0,
	desc: `Removes the region's file after asking for confirmation on the terminal
(answer y), unless --yes is given.
It refuses while other processes are attached, and names their pids: they
would keep the old file mapped while new openers create a new one, and the
cache would be split in two. Stop them first, or give --force to remove it
anyway. It also refuses a file that is not a valid region, or one it does
not trust (a symbolic link, another user's file), unless --force is given;
then it removes the link, never what it points to.`,
	example: `shmctl -r myapp rm
shmctl -r myapp rm --yes
shmctl -r myapp rm --yes --force   # even while processes use it`,
	setup: func(fs *flag.FlagSet) runner {
		yes := fs.Bool("yes", false, "do not ask for confirmation")
		force := fs.Bool("force", false, "remove the file even while processes are attached, or if it is not a valid region (of another layout version, say) or not trusted")
		return func(e *env, _ []string) error {
			if e.region == "" {
				return usagef("no region given: pass -r PATH|NAME or set $%s", regionEnv)
			}
			path := shm.Path(e.region)
			c, what, err := describeForRemoval(e, path, *force)
			if err != nil {
				return err
			}
			if c != nil {
				defer c.Close()
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
				// A process may have attached while the question waited.
				if c != nil && !*force {
					if err := refuseInUse(c, path); err != nil {
						return err
					}
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

// describeForRemoval says what rm is about to remove. It refuses a region
// that other processes use, and a file that is not a region, unless force
// is set. A region is returned open (shmctl's own attachment), so that it
// can be looked at again just before the removal.
func describeForRemoval(e *env, path string, force bool) (*lru.Cache, string, error) {
	c, err := openCache(e)
	if err == nil {
		what, err := describeRegion(c, path, force)
		if err != nil {
			c.Close()
			return nil, "", err
		}
		return c, what, nil
	}
	untrusted := errors.Is(err, lru.ErrUntrusted)
	notRegion := errors.Is(err, lru.ErrNotRegion) || errors.Is(err, lru.ErrVersion) ||
		errors.Is(err, lru.ErrCorrupt)
	if !notRegion && !untrusted {
		return nil, "", err
	}
	if !force {
		return nil, "", fmt.Errorf("%w; refusing to remove it (--force removes it anyway)", err)
	}
	st, serr := os.Lstat(path)
	if serr != nil {
		return nil, "", serr
	}
	switch {
	case untrusted && st.Mode()&os.ModeSymlink != 0:
		// Removing a link removes the link, never what it points to.
		return nil, "a symbolic link", nil
	case !st.Mode().IsRegular():
		return nil, "", fmt.Errorf("%s is not a regular file; refusing to remove it even with --force", path)
	case untrusted:
		return nil, fmt.Sprintf("a file not trusted, %s", humanBytes(st.Size())), nil
	}
	return nil, fmt.Sprintf("not a usable region, %s", humanBytes(st.Size())), nil
}

// describeRegion describes an open region for rm's question, and refuses
// one in use unless force is set.
func describeRegion(c *lru.Cache, path string, force bool) (string, error) {
	n, err := c.Len()
	if err != nil {
		return "", err
	}
	s := fmt.Sprintf("%d entries, %s", n, humanBytes(c.Capacity()))
	pids, err := otherPids(c)
	if err != nil {
		return "", err
	}
	switch {
	case len(pids) == 0:
	case !force:
		return "", inUse(path, pids)
	default:
		s += fmt.Sprintf(", in use by %s, which keep the old file mapped", pidList(pids))
	}
	return s, nil
}

// refuseInUse fails if processes other than shmctl are attached to c.
func refuseInUse(c *lru.Cache, path string) error {
	pids, err := otherPids(c)
	if err != nil {
		return err
	}
	if len(pids) > 0 {
		return inUse(path, pids)
	}
	return nil
}

func inUse(path string, pids []int) error {
	return fmt.Errorf("%s is in use by %s; stop them first, or --force to remove it anyway (they keep the old file mapped while new openers create a new one)",
		path, pidList(pids))
}

// otherPids returns the pids of the processes attached to c's region,
// shmctl's own attachment excluded, in ascending order, each once (a
// process may hold several handles). 0 stands for a process that has just
// claimed a slot and not yet written its pid.
func otherPids(c *lru.Cache) ([]int, error) {
	r := c.Binding().Region()
	as, err := r.Attachments()
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, a := range as {
		if !a.Self {
			pids = append(pids, a.Pid)
		}
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// pidList is "pid 12" or "pids 12, 34".
func pidList(pids []int) string {
	s := make([]string, len(pids))
	for i, p := range pids {
		s[i] = strconv.Itoa(p)
		if p == 0 {
			s[i] = "an unknown pid"
		}
	}
	if len(s) == 1 {
		return "pid " + s[0]
	}
	return "pids " + strings.Join(s, ", ")
}
