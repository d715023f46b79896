package main

import (
	"flag"
	"fmt"
)

var delCmd = &command{
	name:    "del",
	summary: "delete a key",
	args:    "KEY",
	minArgs: 1,
	maxArgs: 1,
	desc: `Deletes the entry at KEY (live or expired). Exit status 1 when there was
no entry.`,
	example: `shmctl -r myapp del user:42`,
	setup: func(fs *flag.FlagSet) runner {
		quoted := quotedFlag(fs)
		return func(e *env, args []string) error {
			key, err := keyArg(args[0], *quoted)
			if err != nil {
				return err
			}
			c, err := openCache(e)
			if err != nil {
				return err
			}
			defer c.Close()
			deleted, err := c.Delete(key)
			if err != nil {
				return err
			}
			if !deleted {
				return notFound(key)
			}
			return nil
		}
	},
}

// notFound reports a missing key (exit status 1).
func notFound(key []byte) error { return fmt.Errorf("%s: not found", displayKey(key)) }
