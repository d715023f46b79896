package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmlru/shmlru/lru"
	"github.com/shmlru/shmlru/shm"
)

// serveProc is a running `shmctl serve`.
type serveProc struct {
	cmd    *exec.Cmd
	url    string        // http://127.0.0.1:PORT
	stderr chan string   // its stderr, line by line; closed at EOF
	exited chan struct{} // closed when it has exited
	err    error         // of Wait, once exited is closed
}

// startServe runs shmctl serve on region, on a free port of the loopback
// interface, and waits until it says where it listens.
func startServe(t *testing.T, region string) *serveProc {
	t.Helper()
	cmd := exec.Command(shmctlBin, "-r", region, "serve", "--listen", "127.0.0.1:0")
	cmd.Env = append(childEnv(), regionEnv+"=")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &serveProc{cmd: cmd, stderr: make(chan string, 100), exited: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			s.stderr <- sc.Text()
		}
		close(s.stderr)
		s.err = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			cmd.Process.Kill()
			<-s.exited
		}
	})
	line := s.nextLine(t)
	prefix := "shmctl serve: serving http://"
	addr, rest, ok := strings.Cut(strings.TrimPrefix(line, prefix), "/metrics for ")
	if !strings.HasPrefix(line, prefix) || !ok || rest != shm.Path(region) {
		t.Fatalf("first line on stderr: %q, want %q...ADDR/metrics for %s", line, prefix, shm.Path(region))
	}
	s.url = "http://" + addr
	return s
}

// nextLine returns the next line serve writes on stderr.
func (s *serveProc) nextLine(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-s.stderr:
		if !ok {
			t.Fatalf("shmctl serve exited: %v", s.err)
		}
		return l
	case <-time.After(20 * time.Second):
		t.Fatal("shmctl serve said nothing on stderr for 20s")
	}
	return ""
}

// get requests path and returns the status and the body.
func (s *serveProc) get(t *testing.T, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// scrape gets /metrics and parses it.
func (s *serveProc) scrape(t *testing.T) map[string]*expoFamily {
	t.Helper()
	code, body := s.get(t, http.MethodGet, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	return parseExposition(t, body)
}

// stop sends sig and waits for a clean exit; it returns what serve wrote on
// stderr after the lines already read.
func (s *serveProc) stop(t *testing.T, sig syscall.Signal) []string {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for l := range s.stderr {
		rest = append(rest, l)
	}
	<-s.exited
	if s.err != nil {
		t.Errorf("shmctl serve after %v: %v, want exit status 0", sig, s.err)
	}
	return rest
}

// value returns the one sample of an unsharded family, checking its
// region label.
func value(t *testing.T, fams map[string]*expoFamily, name, region string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil || len(f.samples) != 1 {
		t.Fatalf("family %s: %+v, want one sample", name, f)
	}
	if got := f.samples[0].labels["region"]; got != region {
		t.Errorf("%s: region label %q, want %q", name, got, region)
	}
	return f.samples[0].value
}

// The exporter starts before the cache exists (shmlru_up 0, and a line
// saying why), picks it up when it is created, and follows it when it is
// removed and created anew with another geometry. SIGTERM stops it with
// status 0.
func TestServeFollowsRegion(t *testing.T) {
	path := newRegionPath(t)
	s := startServe(t, path)

	fams := s.scrape(t)
	if len(fams) != 1 || value(t, fams, "shmlru_up", path) != 0 {
		t.Fatalf("before the region exists: %d families, want only shmlru_up 0", len(fams))
	}
	if l := s.nextLine(t); !strings.Contains(l, "cannot read the region") || !strings.Contains(l, "no such region") {
		t.Errorf("stderr: %q, want the reason the region cannot be read", l)
	}

	c, err := lru.Open(path, &lru.Options{Size: 4 << 20, Shards: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b", "c"} {
		if err := c.Set([]byte(k), []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Get([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get([]byte("nope")); err != lru.ErrNotFound {
		t.Fatalf("get nope: %v", err)
	}
	fams = s.scrape(t)
	sum := func(name string) float64 {
		total := 0.0
		for _, smp := range fams[name].samples {
			total += smp.value
		}
		return total
	}
	if value(t, fams, "shmlru_up", path) != 1 || value(t, fams, "shmlru_entries", path) != 3 ||
		value(t, fams, "shmlru_shards", path) != 4 || sum("shmlru_hits_total") != 1 || sum("shmlru_misses_total") != 1 ||
		value(t, fams, "shmlru_attached_processes", path) != 1 {
		t.Errorf("after creation: up %v entries %v shards %v hits %v misses %v attached %v",
			value(t, fams, "shmlru_up", path), value(t, fams, "shmlru_entries", path), value(t, fams, "shmlru_shards", path),
			sum("shmlru_hits_total"), sum("shmlru_misses_total"), value(t, fams, "shmlru_attached_processes", path))
	}
	if l := s.nextLine(t); !strings.Contains(l, "read again") {
		t.Errorf("stderr: %q, want the region read again", l)
	}

	// Removed: shmlru_up 0 again. Created anew, bigger: the new one.
	c.Close()
	if err := shm.Remove(path); err != nil {
		t.Fatal(err)
	}
	if fams := s.scrape(t); len(fams) != 1 || value(t, fams, "shmlru_up", path) != 0 {
		t.Errorf("after removal: %d families, want only shmlru_up 0", len(fams))
	}
	c, err = lru.Open(path, &lru.Options{Size: 8 << 20, Shards: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set([]byte("x"), []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	fams = s.scrape(t)
	if value(t, fams, "shmlru_up", path) != 1 || value(t, fams, "shmlru_shards", path) != 8 ||
		value(t, fams, "shmlru_entries", path) != 1 || value(t, fams, "shmlru_capacity_bytes", path) != 8<<20 {
		t.Errorf("after re-creation: shards %v entries %v capacity %v", value(t, fams, "shmlru_shards", path),
			value(t, fams, "shmlru_entries", path), value(t, fams, "shmlru_capacity_bytes", path))
	}
	s.scrape(t) // a success after a success logs nothing

	if code, body := s.get(t, http.MethodGet, "/"); code != http.StatusOK || !strings.Contains(body, "/metrics") {
		t.Errorf("GET /: %d %q", code, body)
	}
	if code, _ := s.get(t, http.MethodGet, "/nothing"); code != http.StatusNotFound {
		t.Errorf("GET /nothing: %d, want 404", code)
	}
	if code, _ := s.get(t, http.MethodPost, "/metrics"); code != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d, want 405", code)
	}

	rest := s.stop(t, syscall.SIGTERM)
	if len(rest) != 3 || !strings.Contains(rest[0], "no such region") || !strings.Contains(rest[1], "read again") || rest[2] != "shmctl serve: shutting down" {
		t.Errorf("stderr after the first two reports: %q, want the removal, the re-creation and the shutdown", rest)
	}
}

// SIGINT (Ctrl-C) stops it cleanly too, with the port given back.
func TestServeStopsOnSIGINT(t *testing.T) {
	path, _ := liveRegion(t, "hold")
	s := startServe(t, path)
	fams := s.scrape(t)
	if value(t, fams, "shmlru_up", path) != 1 || value(t, fams, "shmlru_entries", path) != fixtureLive+1 {
		t.Errorf("up %v entries %v", value(t, fams, "shmlru_up", path), value(t, fams, "shmlru_entries", path))
	}
	if rest := s.stop(t, syscall.SIGINT); len(rest) != 1 || rest[0] != "shmctl serve: shutting down" {
		t.Errorf("stderr: %q", rest)
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(s.url, "http://"))
	if err != nil {
		t.Errorf("the port is still taken after serve exited: %v", err)
	} else {
		ln.Close()
	}
}

func TestServeUsage(t *testing.T) {
	path := newRegionPath(t)
	ctlWith(t, runOpts{env: []string{regionEnv + "="}}, "serve").failed(t, exitUsage, "no region given")
	ctl(t, "-r", path, "serve", "extra").failed(t, exitUsage, "wrong number of arguments")
	ctl(t, "-r", path, "serve", "--listen", "127.0.0.1:99999").failed(t, exitFail, "--listen 127.0.0.1:99999")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctl(t, "-r", path, "serve", "--listen", ln.Addr().String()).failed(t, exitFail, "address already in use")
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("serve created %s: %v", path, err)
	}
}
