package installtest_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/version"
)

// The installed shmctl reports the release and inspects a cache that this
// Go process uses.
func TestInstalledShmctl(t *testing.T) {
	shmctl := filepath.Join(staged(t), prefix, "bin", "shmctl")
	env := cleanEnv("SHMLRU_REGION=")
	if out := run(t, "/", env, shmctl, "version"); !strings.HasPrefix(out, "shmctl "+version.Version+"\n") {
		t.Errorf("shmctl version: %q", out)
	}

	region := filepath.Join(t.TempDir(), "region")
	c, err := lru.Open(region, &lru.Options{Size: 4 << 20, Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, k := range []string{"a", "b"} {
		if err := c.Set([]byte(k), []byte("value of "+k), 0); err != nil {
			t.Fatal(err)
		}
	}
	if out := run(t, "/", env, shmctl, "-r", region, "inspect"); !strings.Contains(out, region) {
		t.Errorf("shmctl inspect does not name the region:\n%s", out)
	}
	var rep struct {
		Region   string `json:"region"`
		Entries  int    `json:"entries"`
		Attached int    `json:"attached_processes"`
		Geometry struct {
			Shards int `json:"shards"`
		} `json:"geometry"`
	}
	if err := json.Unmarshal([]byte(run(t, "/", env, shmctl, "-r", region, "inspect", "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Region != region || rep.Entries != 2 || rep.Attached != 1 || rep.Geometry.Shards != 4 {
		t.Errorf("shmctl inspect --json: %+v, want region %s, 2 entries, 1 other process, 4 shards", rep, region)
	}
	if out := run(t, "/", env, shmctl, "-r", region, "get", "b"); strings.TrimSpace(out) != "value of b" {
		t.Errorf("shmctl get b: %q", out)
	}
}
