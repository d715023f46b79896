package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The operator's view: shmctl (built by make into build/shmctl) inspects the
// cache the demo's processes used, and lists its most recently written keys.
func init() {
	register(90, "shmctl on the live cache", func(path string) error {
		bin, err := filepath.Abs(filepath.Join("build", "shmctl"))
		if err != nil {
			return err
		}
		if _, err := os.Stat(bin); err != nil {
			return fmt.Errorf("%s not found: run the demo with 'make demo', which builds it", bin)
		}
		for _, args := range [][]string{
			{"-r", path, "inspect"},
			{"-r", path, "keys", "--limit", "10"},
		} {
			fmt.Printf("\n$ shmctl %s\n", strings.Join(args, " "))
			cmd := exec.Command(bin, args...)
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("shmctl %s: %w", strings.Join(args, " "), err)
			}
		}
		return nil
	})
}
