package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shmlru/shmlru/lru"
)

// Exit statuses.
const (
	exitOK    = 0 // success
	exitFail  = 1 // not found, a problem found, or the operation failed
	exitUsage = 2 // unknown subcommand, bad flag, malformed argument
)

// regionEnv names the environment variable that gives the region when no
// -r/--region flag does.
const regionEnv = "SHMLRU_REGION"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// env is what a subcommand runs with: its streams and the region named by
// the global flags or the environment (possibly overridden by its own -r).
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	region string
	trust  uidList // --trust-uid: owners whose regions shmctl opens besides the caller and root
}

// run is shmctl with its arguments and streams; it returns the exit status.
// Every failure is reported as one line on stderr, never a stack trace.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) (code int) {
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintln(stderr, oneLine(fmt.Sprintf("shmctl: internal error: %v", p)))
			code = exitFail
		}
	}()
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr, region: os.Getenv(regionEnv)}
	err := dispatch(e, args)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	}
	fmt.Fprintln(stderr, oneLine("shmctl: "+err.Error()))
	var u usageError
	if errors.As(err, &u) || errors.Is(err, lru.ErrBadOptions) {
		return exitUsage
	}
	return exitFail
}

// dispatch parses the global flags and runs the subcommand.
func dispatch(e *env, args []string) error {
	fs := flag.NewFlagSet("shmctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	globalFlags(fs, e)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			mainUsage(e.stdout)
			return err
		}
		return usagef("%v (see shmctl --help)", err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usagef("no subcommand given (see shmctl --help)")
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) > 0 && (rest[0] == "--man" || rest[0] == "-man") {
			if len(rest) > 1 {
				return usagef("help --man takes no arguments (it prints the whole manual page)")
			}
			return writeManPage(e.stdout)
		}
		if len(rest) == 0 {
			mainUsage(e.stdout)
			return nil
		}
		cmd := lookup(rest[0])
		if cmd == nil {
			return usagef("unknown subcommand %q (see shmctl --help)", rest[0])
		}
		cmd.usage(e.stdout, cmd.flags(e, new(cmdFlags)))
		return nil
	}
	cmd := lookup(name)
	if cmd == nil {
		return usagef("unknown subcommand %q (see shmctl --help)", name)
	}
	return cmd.run(e, rest)
}

// tagline is what shmctl is, in one sentence.
const tagline = "shmctl inspects and manages a shmlru shared-memory cache while processes use it."

// mainUsage prints the overview of all subcommands.
func mainUsage(w io.Writer) {
	fmt.Fprintf(w, "%s\n\n", tagline)
	fmt.Fprintf(w, "Usage: shmctl [-r PATH|NAME] SUBCOMMAND [flags] [args]\n\n")
	fmt.Fprintf(w, "The region is given by -r/--region or $%s; a name without a slash is a file\nunder /dev/shm. A region owned by another user than you or root is opened only\nif --trust-uid names its owner.\n\nSubcommands:\n", regionEnv)
	t := newTable()
	for _, c := range commands {
		name := c.name
		if c.alias != "" {
			name += ", " + c.alias
		}
		t.add("  "+name, c.summary)
	}
	t.write(w)
	fmt.Fprintf(w, "\nRun 'shmctl SUBCOMMAND --help' for its flags and an example.\n")
	fmt.Fprintf(w, "Exit status: 0 ok, 1 not found or problem found, 2 usage error.\n")
}

// usageError is an error in how shmctl was called: exit status 2.
type usageError struct{ err error }

// Error returns the message, without the "shmctl: " prefix that run adds.
func (u usageError) Error() string { return u.err.Error() }

// Unwrap returns the error inside, so that a usage error can wrap one of
// lru's sentinels (%w in usagef's format).
func (u usageError) Unwrap() error { return u.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// oneLine folds a message onto one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
