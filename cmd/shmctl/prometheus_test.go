package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A tiny parser of the Prometheus text exposition format, strict about what
// shmctl writes: every family has HELP then TYPE before its samples, its
// samples are contiguous, names and labels are well formed, values parse.

type expoFamily struct {
	help, typ string
	samples   []expoSample
}

type expoSample struct {
	labels map[string]string
	value  float64
}

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

func parseExposition(t *testing.T, text string) map[string]*expoFamily {
	t.Helper()
	if !strings.HasSuffix(text, "\n") {
		t.Fatalf("exposition does not end with a newline")
	}
	fams := map[string]*expoFamily{}
	var cur string
	seen := map[string]bool{}
	for n, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(msg string) { t.Fatalf("line %d %q: %s", n+1, line, msg) }
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name, help, ok := strings.Cut(line[len("# HELP "):], " ")
			if !ok || !metricName.MatchString(name) || help == "" {
				fail("malformed HELP")
			}
			if fams[name] != nil {
				fail("family declared twice")
			}
			fams[name] = &expoFamily{help: help}
			cur = name
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(line[len("# TYPE "):], " ")
			if name != cur || fams[name].typ != "" || len(fams[name].samples) > 0 {
				fail("TYPE not right after its HELP")
			}
			if typ != "counter" && typ != "gauge" {
				fail("unknown type")
			}
			if (typ == "counter") != strings.HasSuffix(name, "_total") {
				fail("counters, and only counters, end in _total")
			}
			fams[name].typ = typ
		case strings.HasPrefix(line, "#") || line == "":
			fail("unexpected comment or blank line")
		default:
			open := strings.IndexByte(line, '{')
			close := strings.LastIndexByte(line, '}')
			if open < 0 || close < open || len(line) < close+2 || line[close+1] != ' ' {
				fail("sample is not name{labels} value")
			}
			name := line[:open]
			if name != cur || fams[name].typ == "" {
				fail("sample outside its family, or before its TYPE")
			}
			labels := parseLabels(t, line[open+1:close], fail)
			v, err := strconv.ParseFloat(line[close+2:], 64)
			if err != nil {
				fail("value does not parse")
			}
			if fams[name].typ == "counter" && v < 0 {
				fail("negative counter")
			}
			key := name + "{" + line[open+1:close] + "}"
			if seen[key] {
				fail("duplicate series")
			}
			seen[key] = true
			fams[name].samples = append(fams[name].samples, expoSample{labels, v})
		}
	}
	for name, f := range fams {
		if f.typ == "" || len(f.samples) == 0 {
			t.Errorf("family %s has no TYPE or no samples", name)
		}
	}
	return fams
}

// parseLabels reads name="value",... with \\, \" and \n escapes.
func parseLabels(t *testing.T, s string, fail func(string)) map[string]string {
	labels := map[string]string{}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || !labelName.MatchString(s[:eq]) || len(s) < eq+2 || s[eq+1] != '"' {
			fail("malformed label")
		}
		name := s[:eq]
		var v strings.Builder
		i := eq + 2
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' {
				i++
				switch {
				case i >= len(s):
					fail("dangling escape")
				case s[i] == 'n':
					v.WriteByte('\n')
				case s[i] == '\\' || s[i] == '"':
					v.WriteByte(s[i])
				default:
					fail("bad escape")
				}
				continue
			}
			v.WriteByte(s[i])
		}
		if i >= len(s) {
			fail("unterminated label value")
		}
		if _, dup := labels[name]; dup {
			fail("duplicate label")
		}
		labels[name] = v.String()
		s = s[i+1:]
		if s != "" {
			if s[0] != ',' {
				fail("labels not separated by commas")
			}
			s = s[1:]
		}
	}
	return labels
}

// An awkward region path survives escaping and the parser reads it back.
func TestPrometheusEscaping(t *testing.T) {
	odd := "/dev/shm/a\"b\\c\nd"
	rep := &report{Region: odd, CreatedAt: time.Unix(1700000000, 0), Shards: []shardJSON{{Shard: 0}, {Shard: 1, Lock: lockJSON{Held: true}}}}
	var b strings.Builder
	if err := writePrometheus(&b, rep); err != nil {
		t.Fatal(err)
	}
	fams := parseExposition(t, b.String())
	if got := fams["shmlru_entries"].samples[0].labels["region"]; got != odd {
		t.Errorf("region label reads back as %q", got)
	}
	if v := fams["shmlru_shard_lock_held"].samples[1].value; v != 1 {
		t.Errorf("lock held = %v", v)
	}
	if v := fams["shmlru_created_timestamp_seconds"].samples[0].value; v != 1700000000 {
		t.Errorf("created = %v", v)
	}
}
