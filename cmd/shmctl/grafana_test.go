package main

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"regexp"
	"testing"

	"github.com/shmlru/shmlru/lru"
)

// dashboardPath is the Grafana dashboard shipped for the exporter's metrics.
const dashboardPath = "../../contrib/grafana/shmlru.json"

// grafanaPanel is what the test reads of a dashboard panel.
type grafanaPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr         string `json:"expr"`
		LegendFormat string `json:"legendFormat"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // a row's
}

type grafanaDashboard struct {
	UID        string         `json:"uid"`
	Title      string         `json:"title"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

var (
	promMetricRef = regexp.MustCompile(`\bshmlru_[a-zA-Z0-9_:]*`)
	legendLabel   = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
)

// exporterFamilies scrapes a real region through the exporter's handler,
// as Prometheus does, and returns the families it answers.
func exporterFamilies(t *testing.T) map[string]*expoFamily {
	t.Helper()
	path := newRegionPath(t)
	c, err := lru.Open(path, &lru.Options{Size: 4 << 20, Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set([]byte("k"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	(&exporter{region: path, log: io.Discard}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	fams := parseExposition(t, rec.Body.String())
	if up := fams["shmlru_up"]; up == nil || up.samples[0].value != 1 {
		t.Fatalf("the exporter could not read the region:\n%s", rec.Body.String())
	}
	return fams
}

// Every metric a panel of the dashboard queries is one the exporter
// answers, with the labels its legend shows; every panel queries one, and
// filters by the dashboard's region variable.
func TestGrafanaDashboardQueriesExporterMetrics(t *testing.T) {
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	fams := exporterFamilies(t)
	hasLabel := func(fam, label string) bool {
		for _, s := range fams[fam].samples {
			if _, ok := s.labels[label]; !ok {
				return false
			}
		}
		return len(fams[fam].samples) > 0
	}

	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		for _, m := range promMetricRef.FindAllString(v.Definition, -1) {
			if fams[m] == nil {
				t.Errorf("variable %s queries %s, which the exporter does not answer", v.Name, m)
			}
		}
	}
	if vars["datasource"] != "datasource" || vars["region"] != "query" {
		t.Errorf("variables %v: want datasource (a data source) and region (a query)", vars)
	}

	ids := map[int]bool{}
	queried := 0
	var walk func(ps []grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			if ids[p.ID] {
				t.Errorf("panel id %d used twice", p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: its data source is not the dashboard's ${datasource}", p.Title)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q queries nothing", p.Title)
			}
			for _, tg := range p.Targets {
				names := promMetricRef.FindAllString(tg.Expr, -1)
				if len(names) == 0 {
					t.Errorf("panel %q: %q queries no shmlru metric", p.Title, tg.Expr)
				}
				if !regexp.MustCompile(`region=~"\$region"`).MatchString(tg.Expr) {
					t.Errorf("panel %q: %q does not filter by $region", p.Title, tg.Expr)
				}
				for _, n := range names {
					queried++
					if fams[n] == nil {
						t.Errorf("panel %q queries %s, which the exporter does not answer", p.Title, n)
						continue
					}
					for _, l := range legendLabel.FindAllStringSubmatch(tg.LegendFormat, -1) {
						if !hasLabel(n, l[1]) {
							t.Errorf("panel %q: legend %q shows label %s, which %s does not carry", p.Title, tg.LegendFormat, l[1], n)
						}
					}
				}
			}
		}
	}
	walk(d.Panels)
	if d.UID == "" || d.Title == "" || queried < 20 {
		t.Errorf("dashboard uid %q title %q, %d metric references: want a uid, a title and the panels", d.UID, d.Title, queried)
	}
}
