package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/version"
)

// modulePath is the main module's path, as go.mod declares it.
const modulePath = "github.com/shmlru/shmlru"

// moduleFiles lists the files a module zip of this checkout holds: those
// git tracks or would track, less any nested module (bench/ has its own
// go.mod), as the go command leaves them out of a module.
func moduleFiles(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command(testenv.Need(t, "git"), "ls-files", "--cached", "--others", "--exclude-standard", "-z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files in %s: %v", root, err)
	}
	var nested []string
	var files []string
	all := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	for _, f := range all {
		if strings.HasSuffix(f, "/go.mod") {
			nested = append(nested, strings.TrimSuffix(f, "go.mod"))
		}
	}
	for _, f := range all {
		keep := true
		for _, n := range nested {
			if strings.HasPrefix(f, n) {
				keep = false
			}
		}
		if st, err := os.Lstat(filepath.Join(root, f)); err != nil || !st.Mode().IsRegular() {
			keep = false // deleted in the work tree, or a link
		}
		if keep {
			files = append(files, f)
		}
	}
	return files
}

// writeModuleProxy lays out a module proxy in dir (the GOPROXY protocol
// over file://) that serves this checkout as modulePath at version v.
func writeModuleProxy(t *testing.T, dir, root, v string) {
	t.Helper()
	at := filepath.Join(dir, modulePath, "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		t.Fatal(err)
	}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	for _, f := range moduleFiles(t, root) {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(modulePath + "@" + v + "/" + f)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	info, _ := json.Marshal(map[string]any{"Version": v, "Time": time.Now().UTC().Format(time.RFC3339)})
	for name, b := range map[string][]byte{
		"list": []byte(v + "\n"), v + ".info": info, v + ".mod": gomod, v + ".zip": zbuf.Bytes(),
	} {
		if err := os.WriteFile(filepath.Join(at, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// `go install github.com/shmlru/shmlru/cmd/shmctl@vVERSION` works without
// cgo and with nothing but the module's own files: this checkout, served
// as that version by a module proxy on disk (its dependencies come from
// the local module cache's download directory, which is laid out as a
// proxy too), is installed into an empty GOBIN and module cache, and the
// shmctl it builds reports that version.
func TestGoInstallAtVersion(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(gomod), "module "+modulePath+"\n") {
		t.Fatalf("go.mod does not declare module %s", modulePath)
	}
	goTool := goTool()
	out, err := exec.Command(goTool, "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	cacheProxy := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")

	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	proxy := filepath.Join(tmp, "proxy")
	v := "v" + version.Version
	writeModuleProxy(t, proxy, root, v)

	gobin := filepath.Join(tmp, "bin")
	cmd := exec.Command(goTool, "install", modulePath+"/cmd/shmctl@"+v)
	cmd.Dir = tmp // outside any module
	cmd.Env = append(os.Environ(),
		"GOPROXY=file://"+proxy+",file://"+cacheProxy,
		"GOSUMDB=off", "GONOSUMDB=", "GOPRIVATE=", "GOFLAGS=-modcacherw", "GOWORK=off", "GOTOOLCHAIN=local",
		"GOMODCACHE="+filepath.Join(tmp, "modcache"), "GOBIN="+gobin, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s/cmd/shmctl@%s: %v\n%s", modulePath, v, err, out)
	}
	out, err = exec.Command(filepath.Join(gobin, "shmctl"), "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "shmctl "+version.Version+"\n") {
		t.Errorf("the installed shmctl's version: %q", out)
	}
}
