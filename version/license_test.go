package version_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The project's license, the Apache License 2.0, under the name each
// place that states it uses.
const (
	spdxID     = "Apache-2.0" // SPDX: the rockspec, the pc file, file headers
	opmLicense = "apache2"    // opm's name in dist.ini
	// The SHA-256 of the license's text as the ASF publishes it
	// (apache.org/licenses/LICENSE-2.0.txt; Debian's
	// /usr/share/common-licenses/Apache-2.0 is the same bytes).
	licenseSHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
)

// LICENSE is the license's text, verbatim; the copyright line is NOTICE's.
func TestLicenseFile(t *testing.T) {
	sum := sha256.Sum256([]byte(readFile(t, "LICENSE")))
	if got := hex.EncodeToString(sum[:]); got != licenseSHA256 {
		t.Errorf("LICENSE is not the Apache License 2.0's text verbatim (sha256 %s, want %s): copy /usr/share/common-licenses/Apache-2.0", got, licenseSHA256)
	}
	if !regexp.MustCompile(`(?m)^Copyright The shmlru authors$`).MatchString(readFile(t, "NOTICE")) {
		t.Error("NOTICE lacks the line `Copyright The shmlru authors`")
	}
}

// The packages' metadata name that license, each in its own vocabulary.
func TestLicenseInMetadata(t *testing.T) {
	specs, err := filepath.Glob(root + "/*.rockspec")
	if err != nil || len(specs) != 1 {
		t.Fatalf("rockspecs at the root: %q, %v; want exactly one", specs, err)
	}
	for _, c := range []struct{ file, line string }{
		{"dist.ini", `license = ` + opmLicense},
		{filepath.Base(specs[0]), `license = "` + spdxID + `",`},
		{"c/shmlru.pc.in", `License: ` + spdxID},
	} {
		re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(c.line) + `\s*$`)
		if !re.MatchString(readFile(t, c.file)) {
			t.Errorf("%s lacks the line %s", c.file, c.line)
		}
		if n := len(regexp.MustCompile(`(?mi)^\s*license\s*[=:]`).FindAllString(readFile(t, c.file), -1)); n != 1 {
			t.Errorf("%s states a license %d times, want once", c.file, n)
		}
	}
}

// The files that are installed and read on their own, away from LICENSE
// (the C header, the Lua modules), open with an SPDX line.
func TestSPDXHeaders(t *testing.T) {
	files := []string{"c/shmlru.h"}
	err := filepath.WalkDir(root+"/ffi/resty", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".lua") {
			files = append(files, strings.TrimPrefix(p, root+"/"))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		want := "-- SPDX-License-Identifier: " + spdxID
		if strings.HasSuffix(f, ".h") {
			want = "/* SPDX-License-Identifier: " + spdxID + " */"
		}
		if first, _, _ := strings.Cut(readFile(t, f), "\n"); first != want {
			t.Errorf("%s: first line %q, want %q", f, first, want)
		}
	}
}

// The README says which license, and links the file.
func TestLicenseInREADME(t *testing.T) {
	if !strings.Contains(readFile(t, "README.md"), "[Apache License 2.0](LICENSE)") {
		t.Error("README.md does not name the license as [Apache License 2.0](LICENSE)")
	}
}
