package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/version"
)

// manSections splits the man page's SUBCOMMANDS section into one text per
// subcommand, by its .SS title ("inspect, info").
func manSections(t *testing.T, page string) map[string]string {
	t.Helper()
	_, subs, ok := strings.Cut(page, "\n.SH SUBCOMMANDS\n")
	if !ok {
		t.Fatalf("no SUBCOMMANDS section:\n%s", page)
	}
	subs, _, _ = strings.Cut(subs, "\n.SH ")
	out := map[string]string{}
	for _, part := range strings.Split(subs, ".SS ")[1:] {
		title, body, _ := strings.Cut(part, "\n")
		out[strings.Trim(title, `"`)] = body
	}
	return out
}

// Every subcommand of the table has its section, with its usage, every one
// of its flags and its example.
func TestManPageCoversEveryCommandAndFlag(t *testing.T) {
	page := ctl(t, "help", "--man").ok(t).stdout
	if !strings.Contains(page, `.TH SHMCTL 1 "" "shmlru `+version.Version+`"`) {
		t.Errorf("the .TH line does not carry version %s", version.Version)
	}
	sections := manSections(t, page)
	if len(sections) != len(commands) {
		t.Errorf("%d subcommand sections for %d subcommands", len(sections), len(commands))
	}
	for _, c := range commands {
		title := c.name
		if c.alias != "" {
			title += ", " + c.alias
		}
		body, ok := sections[title]
		if !ok {
			t.Errorf("no section %q", title)
			continue
		}
		want := []string{`\fB` + roffText(c.name) + `\fR [\fIflags\fR]`, roffText(strings.TrimSpace(strings.Split(c.example, "\n")[0]))}
		for _, fl := range c.ownFlags() {
			want = append(want, `.TP`+"\n"+`\fB\-\-`+roffText(fl.Name)+`\fR`)
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("section %q lacks %q:\n%s", title, w, body)
			}
		}
	}
	for _, w := range []string{`\fB\-r\fR, \fB\-\-region\fR`, `\fB\-h\fR, \fB\-\-help\fR`, ".B " + regionEnv} {
		if !strings.Contains(page, w) {
			t.Errorf("the page lacks %q", w)
		}
	}
}

// groff renders the page without a warning, and the text has every
// subcommand's flags as a reader types them.
func TestManPageRenders(t *testing.T) {
	groff := testenv.Need(t, "groff")
	src := filepath.Join(t.TempDir(), "shmctl.1")
	if err := os.WriteFile(src, []byte(ctl(t, "help", "--man").ok(t).stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(groff, "-man", "-Tascii", "-ww", "-rLL=200n", "-P-c", "-P-b", "-P-u", src)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("groff: %v\n%s", err, stderr.String())
	}
	text := string(out)
	for _, c := range commands {
		for _, fl := range c.ownFlags() {
			if !strings.Contains(text, "--"+fl.Name) {
				t.Errorf("the rendered page lacks --%s (%s)", fl.Name, c.name)
			}
		}
		if !strings.Contains(text, "shmctl [-r PATH|NAME] "+c.name+" [flags]") {
			t.Errorf("the rendered page lacks %s's usage", c.name)
		}
	}
}

func TestHelpManTakesNothingElse(t *testing.T) {
	ctl(t, "help", "--man", "extra").failed(t, exitUsage, "help --man takes no arguments")
}
