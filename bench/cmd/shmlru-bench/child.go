package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Multi-process runs re-execute this binary as `-child <role> -c <JSON>`.
// Every child speaks one line protocol: it decodes its JSON argument,
// prints "ready", then answers each line the parent writes on its stdin
// with one line (a word, or a JSON report), until "quit" or the end of
// input. The roles are:
//
//	loop  a peer looping get, set or a workload trace, or the CPU-bound
//	      control (loopchild.go): "run <ns>"
//	load  the read-through section's callers (loadchild.go)
//	near  the near section's clients (nearchild.go): "run <seed>"

var (
	flagChild    = flag.String("child", "", "internal: run as a child process of this role")
	flagChildArg = flag.String("c", "", "internal: the child's argument, JSON")
)

// childRoles are the children's main functions; each is given -c.
var childRoles = map[string]func(arg []byte){
	"loop": loopChildMain,
	"load": loadChildMain,
	"near": nearChildMain,
}

func childMain() {
	f, ok := childRoles[*flagChild]
	if !ok {
		check(fmt.Errorf("-child: no role %q", *flagChild))
	}
	f([]byte(*flagChildArg))
}

// childOut is a child's stdout, written by reply.
var childOut = bufio.NewWriter(os.Stdout)

// reply writes one line to the parent: a string as it is, anything else
// as JSON.
func reply(v any) {
	s, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		check(err)
		s = string(b)
	}
	childOut.WriteString(s)
	childOut.WriteByte('\n')
	childOut.Flush()
}

// serve prints "ready", then passes the fields of each line on stdin to
// handle until "quit" or the end of input; handle replies itself.
func serve(handle func(f []string)) {
	reply("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 || f[0] == "quit" {
			return
		}
		handle(f)
	}
}

// serveRuns serves "run <ns>": run timed for that long, replied as its
// Sample.
func serveRuns(run func(n int) (int, int)) {
	serve(func(f []string) {
		var ns int64
		if len(f) != 2 || f[0] != "run" {
			check(fmt.Errorf("child: unexpected line %q", f))
		}
		_, err := fmt.Sscan(f[1], &ns)
		check(err)
		reply(runFor(time.Duration(ns), run))
	})
}

// child is the parent's handle on one child process.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// spawn starts a child of role with arg (JSON-encoded) and waits for its
// "ready".
func (e *env) spawn(role string, arg any) *child {
	b, err := json.Marshal(arg)
	check(err)
	exe, err := os.Executable()
	check(err)
	cmd := exec.Command(exe, "-child", role, "-c", string(b))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	check(err)
	outp, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	k := &child{cmd: cmd, in: in, out: bufio.NewReader(outp)}
	e.kids = append(e.kids, k)
	k.expect("ready")
	return k
}

// spawnN starts n children of role, child i with arg(i).
func (e *env) spawnN(n int, role string, arg func(i int) any) []*child {
	kids := make([]*child, n)
	for i := range kids {
		kids[i] = e.spawn(role, arg(i))
	}
	return kids
}

// send writes one line to the child.
func (k *child) send(format string, args ...any) {
	fmt.Fprintf(k.in, format+"\n", args...)
}

// line reads one line from the child.
func (k *child) line() string {
	l, err := k.out.ReadString('\n')
	if err != nil {
		check(fmt.Errorf("child %d: %q, %v", k.cmd.Process.Pid, l, err))
	}
	return strings.TrimSpace(l)
}

// expect reads one line from the child and fails the run unless it is want.
func (k *child) expect(want string) {
	if l := k.line(); l != want {
		check(fmt.Errorf("child %d: %q; want %q", k.cmd.Process.Pid, l, want))
	}
}

// sendAll writes one line to every child.
func sendAll(kids []*child, format string, args ...any) {
	for _, k := range kids {
		k.send(format, args...)
	}
}

// jsonArg decodes a child's -c argument into v.
func jsonArg(arg []byte, v any) error {
	if err := json.Unmarshal(arg, v); err != nil {
		return fmt.Errorf("-c: %w", err)
	}
	return nil
}

// recvAll reads one JSON report from every child.
func recvAll[T any](kids []*child) []T {
	out := make([]T, len(kids))
	for i, k := range kids {
		check(json.Unmarshal([]byte(k.line()), &out[i]))
	}
	return out
}

func (k *child) quit() {
	fmt.Fprintln(k.in, "quit")
	k.in.Close()
	done := make(chan struct{})
	go func() { k.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		k.kill()
	}
}

// quitAll ends every child.
func quitAll(kids []*child) {
	for _, k := range kids {
		k.quit()
	}
}

func (k *child) kill() {
	if k.cmd.ProcessState == nil && k.cmd.Process != nil {
		k.cmd.Process.Kill()
		k.cmd.Wait()
	}
}

// runKids runs all children for d at once and sums their throughput.
func runKids(kids []*child, d time.Duration) Sample {
	sendAll(kids, "run %d", int64(d))
	return aggregate(recvAll[Sample](kids))
}

// aggregate sums parallel runs: throughput adds up; NsPerOp is the
// aggregate's wall time per operation (1e9 / total ops per second).
func aggregate(ss []Sample) Sample {
	var a Sample
	var thr float64
	for _, s := range ss {
		a.Ops += s.Ops
		a.Gets += s.Gets
		a.Hits += s.Hits
		a.Mallocs += s.Mallocs
		a.CPUNs += s.CPUNs
		thr += s.OpsPerSec()
	}
	if thr > 0 {
		a.Ns = int64(float64(a.Ops) / thr * 1e9)
		a.NsPerOp = 1e9 / thr
	}
	return a
}
