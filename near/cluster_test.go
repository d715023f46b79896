package near

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/shmlru/shmlru/internal/testenv"
	"github.com/shmlru/shmlru/lru"
)

// clusterPort finds a port that is free with its cluster bus port
// (port+10000) free too.
func clusterPort(t *testing.T) int {
	for range 100 {
		p := 20000 + rand.IntN(20000)
		ok := true
		for _, q := range []int{p, p + 10000} {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", q))
			if err != nil {
				ok = false
				break
			}
			l.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free port pair for a cluster node")
	return 0
}

// startCluster starts a Redis Cluster of three masters on loopback and
// returns their addresses.
func startCluster(t *testing.T) []string {
	var addrs []string
	for range 3 {
		// The node's config file is relative to its --dir, its own.
		r := testenv.StartRedisOn(t, clusterPort(t), "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		addrs = append(addrs, r.Addr())
	}
	out, err := exec.Command(testenv.Need(t, "redis-cli"), append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, a := range addrs {
		rc := direct(t, a)
		waitFor(t, 30*time.Second, "cluster_state:ok at "+a, func() bool {
			info, _ := do(t, rc, "CLUSTER", "INFO").ToString()
			return strings.Contains(info, "cluster_state:ok")
		})
	}
	return addrs
}

// The two-hosts coherence test on a 3-master cluster: the agent tracks
// every master, and writes to keys of every slot range reach the other
// host.
func TestClusterTwoHosts(t *testing.T) {
	addrs := startCluster(t)
	a := newClient(t, options(t, regionPath(t, "hostA"), addrs[0]))
	bPath := regionPath(t, "hostB")
	b := startHost(t, "host", bPath, 200*time.Millisecond, addrs[1])
	bCache, err := lru.Open(bPath, &lru.Options{NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bCache.Close()
	inStep(t, a.Cache())
	inStep(t, bCache)
	// The agent tracks all three masters.
	rc := direct(t, addrs...)
	tracking := 0
	for _, addr := range addrs {
		list, _ := do(t, direct(t, addr), "CLIENT", "LIST").ToString()
		for _, l := range strings.Split(list, "\n") {
			if strings.Contains(l, "name="+AgentClientName) && strings.Contains(l, "flags=t") {
				tracking++
			}
		}
	}
	// Each host's agent holds one tracking connection per master.
	if tracking != 6 {
		t.Fatalf("%d tracking connections named %s across the masters, want 6 (2 agents x 3 masters)", tracking, AgentClientName)
	}
	ctx := context.Background()
	slots := map[int]bool{}
	for i := range 60 {
		key := fmt.Sprint("user:", i)
		slot, _ := do(t, rc, "CLUSTER", "KEYSLOT", key).AsInt64()
		slots[int(slot)*3/16384] = true
		if got := b.call(t, "get "+key); got != "nil" && !strings.HasPrefix(got, "v ") {
			t.Fatalf("host B: %s", got)
		}
		if err := a.Set(ctx, key, []byte(fmt.Sprint("v", i)), 0); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for {
			got := b.call(t, "get "+key)
			if got == fmt.Sprint("v v", i) {
				break
			}
			if time.Since(start) > 200*time.Millisecond+2*time.Second {
				t.Fatalf("host B still reads %q for %s %v after host A wrote it", got, key, time.Since(start))
			}
		}
	}
	if len(slots) != 3 {
		t.Fatalf("the keys fell in %d of the 3 masters' slot ranges", len(slots))
	}
}
