package testenv

// A throwaway nginx for one test, through internal/ngxrun.

import (
	"testing"

	"github.com/shmlru/shmlru/internal/ngxrun"
)

// NeedNginx ends the test as Missing says unless nginx and its Lua module
// are installed.
func NeedNginx(t testing.TB) {
	t.Helper()
	if _, err := ngxrun.FindNginx(); err != nil {
		Missing(t, "nginx with its Lua module", err.Error())
	}
}

// Nginx starts nginx as cfg says and stops it when the test ends, then
// gives its error log to afterStop (if not nil) to check. Root defaults to
// the repository's, Dir to a temporary directory of the test's, and Lib
// (unless NoLib) to Lib's answer. A missing nginx or library ends the test
// as Missing says.
func Nginx(t testing.TB, cfg ngxrun.Config, afterStop func(errorLog string)) *ngxrun.Server {
	t.Helper()
	NeedNginx(t)
	if cfg.Root == "" {
		cfg.Root = Root(t)
	}
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Lib == "" && !cfg.NoLib {
		cfg.Lib = Lib(t)
	}
	s, err := ngxrun.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Error(err)
		}
		if afterStop != nil {
			afterStop(s.ErrorLog())
		}
	})
	return s
}
