package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

// A command is one subcommand: its help and how to run it.
type command struct {
	name    string
	alias   string // another name for it, "" if none
	summary string // one line for the overview
	args    string // positional arguments, as shown in the usage line
	minArgs int
	maxArgs int    // -1: any number
	desc    string // what it does, for --help
	example string // one or more example command lines, for --help

	// setup defines the subcommand's own flags on fs and returns the
	// function that runs it once they are parsed.
	setup func(fs *flag.FlagSet) runner
}

// runner runs a subcommand with its positional arguments.
type runner func(e *env, args []string) error

// commands in the order of the overview. It is filled in by init because
// completion's runner reads it: an initializer would refer to itself.
var commands []*command

func init() {
	commands = []*command{
		inspectCmd, statsCmd, keysCmd, getCmd, setCmd, delCmd,
		flushCmd, checkCmd, createCmd, rmCmd, watchCmd, serveCmd,
		versionCmd, completionCmd,
	}
}

// lookup finds a subcommand by name or alias.
func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name || (c.alias != "" && c.alias == name) {
			return c
		}
	}
	return nil
}

// cmdFlags is the parsed state of a subcommand's flag set.
type cmdFlags struct {
	fs  *flag.FlagSet
	run runner
}

// globalFlags defines the flags that shmctl takes before the subcommand
// and every subcommand takes too: -r/--region and --trust-uid.
func globalFlags(fs *flag.FlagSet, e *env) {
	fs.StringVar(&e.region, "r", e.region, "")
	fs.StringVar(&e.region, "region", e.region, "")
	fs.Var(&e.trust, "trust-uid", "")
}

// isGlobal reports whether a flag is one of globalFlags'.
func isGlobal(fl *flag.Flag) bool {
	return fl.Name == "r" || fl.Name == "region" || fl.Name == "trust-uid"
}

// flags builds the subcommand's flag set: the global ones (a -r/--region
// here overrides the one before the subcommand, a --trust-uid adds to
// those) and the subcommand's own.
func (c *command) flags(e *env, f *cmdFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("shmctl "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	globalFlags(fs, e)
	f.fs, f.run = fs, c.setup(fs)
	return fs
}

// ownFlags returns the subcommand's own flags (not the global ones, which
// every subcommand takes) in the order of its --help: for the manual page
// and the completion script, which are generated from them.
func (c *command) ownFlags() []*flag.Flag {
	fs := c.flags(&env{}, new(cmdFlags))
	var out []*flag.Flag
	fs.VisitAll(func(fl *flag.Flag) {
		if !isGlobal(fl) {
			out = append(out, fl)
		}
	})
	return out
}

// uidList is the value of --trust-uid: users, by uid or name, given once
// each or separated by commas.
type uidList []int

func (l *uidList) String() string {
	s := make([]string, len(*l))
	for i, uid := range *l {
		s[i] = strconv.Itoa(uid)
	}
	return strings.Join(s, ",")
}

func (l *uidList) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		uid, err := strconv.Atoi(name)
		if err != nil {
			u, lerr := user.Lookup(name)
			if lerr != nil {
				return fmt.Errorf("%q is neither a uid nor a user's name", name)
			}
			uid, err = strconv.Atoi(u.Uid)
		}
		if err != nil || uid < 0 {
			return fmt.Errorf("%q is not a uid", name)
		}
		*l = append(*l, uid)
	}
	return nil
}

// flagHelp returns the name of fl's value ("" for a switch) and its help,
// with the default when it is not the zero value.
func flagHelp(fl *flag.Flag) (arg, help string) {
	arg, help = flag.UnquoteUsage(fl)
	if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" {
		help += " (default " + fl.DefValue + ")"
	}
	return arg, help
}

// takesValue reports whether fl needs a value (--flag VALUE), as opposed
// to a boolean switch.
func takesValue(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// run parses the subcommand's arguments and runs it.
func (c *command) run(e *env, args []string) error {
	var f cmdFlags
	fs := c.flags(e, &f)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		c.usage(e.stdout, fs)
		return err
	}
	if err != nil {
		return usagef("%s: %v (see shmctl %s --help)", c.name, err, c.name)
	}
	if len(pos) < c.minArgs || (c.maxArgs >= 0 && len(pos) > c.maxArgs) {
		want := c.args
		if want == "" {
			want = "no arguments"
		}
		return usagef("%s: wrong number of arguments: want %s (see shmctl %s --help)", c.name, want, c.name)
	}
	if err := f.run(e, pos); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	return nil
}

// parseInterspersed parses flags wherever they appear among the positional
// arguments (flag.Parse alone stops at the first positional one). After
// "--", everything is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// usage prints the subcommand's help.
func (c *command) usage(w io.Writer, fs *flag.FlagSet) {
	line := "shmctl [-r PATH|NAME] " + c.name + " [flags]"
	if c.args != "" {
		line += " " + c.args
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", line, strings.TrimSpace(c.desc))
	if c.alias != "" {
		fmt.Fprintf(w, "Also called %q.\n", c.alias)
	}
	fmt.Fprintf(w, "\nFlags:\n")
	t := newTable()
	t.add("  -r, --region PATH|NAME", "the region (default $"+regionEnv+"); a name without a slash is under /dev/shm")
	t.add("  --trust-uid USER", trustHelp)
	fs.VisitAll(func(fl *flag.Flag) {
		if isGlobal(fl) {
			return
		}
		arg, help := flagHelp(fl)
		name := "  --" + fl.Name
		if arg != "" {
			name += " " + arg
		}
		t.add(name, help)
	})
	t.add("  -h, --help", "show this help")
	t.write(w)
	fmt.Fprintf(w, "\nExample:\n")
	for _, ex := range strings.Split(strings.TrimSpace(c.example), "\n") {
		fmt.Fprintf(w, "  %s\n", strings.TrimSpace(ex))
	}
}

// trustHelp is --trust-uid's help.
const trustHelp = "also open regions this user (a uid or name) owns; repeat it, or separate users with commas"

// openCache opens the region for inspection or a change. It never creates
// one: a mistyped name is reported, not created. It opens a region that
// its group or everyone may write as readily as a private one (an operator
// looks at a region as its users share it), but, as every opener, only if
// the file is not a symbolic link and its owner is the caller, root, or a
// user named by --trust-uid.
func openCache(e *env) (*lru.Cache, error) {
	if e.region == "" {
		return nil, usagef("no region given: pass -r PATH|NAME or set $%s", regionEnv)
	}
	c, err := lru.Open(e.region, &lru.Options{NoCreate: true, Mode: 0o666, TrustUIDs: e.trust})
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such region (check the name, or make one with 'shmctl create')", shm.Path(e.region))
	}
	return c, err
}

// quotedFlag defines --quoted, which makes KEY a Go-quoted string, as keys
// prints keys that are not plain text (a NUL byte cannot be an argument).
func quotedFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("quoted", false, `KEY is Go-quoted, as keys prints unprintable keys (e.g. "a\x00b")`)
}

// keyArg reads the KEY argument.
func keyArg(s string, quoted bool) ([]byte, error) {
	if !quoted {
		return []byte(s), nil
	}
	k, err := strconv.Unquote(s)
	if err != nil {
		return nil, usagef("--quoted: %s is not a Go-quoted string (e.g. \"a\\x00b\")", s)
	}
	return []byte(k), nil
}

// jsonFlag defines the --json flag of a read subcommand.
func jsonFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("json", false, "print JSON for scripts instead of text")
}
