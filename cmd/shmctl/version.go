package main

import (
	"flag"
	"fmt"
	"runtime"

	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
	"github.com/shmlru/shmlru/version"
)

var versionCmd = &command{
	name:    "version",
	summary: "the shmlru release this shmctl belongs to",
	maxArgs: 0,
	desc: `Prints the shmlru release shmctl was built from (the version that
libshmlru.so's shmlru_version(), the Lua module's _VERSION and pkg-config
report for the same release), the region and cache layout versions it reads
and writes, and the Go toolchain that built it. It opens no region.`,
	example: `shmctl version
shmctl version --json`,
	setup: func(fs *flag.FlagSet) runner {
		asJSON := jsonFlag(fs)
		return func(e *env, _ []string) error {
			v := versionDoc{
				Version:      version.Version,
				RegionHeader: shm.Version,
				CacheLayout:  lru.LayoutVersion,
				Go:           runtime.Version(),
				Platform:     runtime.GOOS + "/" + runtime.GOARCH,
			}
			if *asJSON {
				return writeJSON(e.stdout, v)
			}
			_, err := fmt.Fprintf(e.stdout, "shmctl %s\nregion header version %d, cache layout version %d\n%s %s\n",
				v.Version, v.RegionHeader, v.CacheLayout, v.Go, v.Platform)
			return err
		}
	},
}

// versionDoc is version's JSON output.
type versionDoc struct {
	Version      string `json:"version"`
	RegionHeader int    `json:"region_header_version"`
	CacheLayout  int    `json:"cache_layout_version"`
	Go           string `json:"go"`
	Platform     string `json:"platform"`
}
