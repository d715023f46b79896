package main

import "testing"

// The mlcache tables give every cell's ratio to lrucache's get at its key
// count, and the L1 hit ratio and L2 reads only where they were measured.
func TestMlcacheTables(t *testing.T) {
	l1, l2 := 0.99, 0.95
	r := &Results{Mlcache: []LuaResult{
		{Keys: 1000, Peer: "lrucache", Op: "get", Ns: 10, CPU: 0.97, All: []float64{10, 11, 9}},
		{Keys: 1000, Peer: "shmlru.mlcache always", Op: "L1 hit", Ns: 25, CPU: 1, All: []float64{25, 25, 25}},
		{Keys: 1000, Peer: "shmlru.mlcache always", Op: "get, writes", Ns: 90, Bytes: 6, CPU: 0.9, Below: 1, All: []float64{90, 90, 90}, L1: &l1, L2Reads: &l2},
		{Keys: 100000, Peer: "lrucache", Op: "get", Ns: 60, CPU: 1, All: []float64{60, 60, 60}},
		{Keys: 100000, Peer: "shmlru.mlcache always", Op: "L1 hit", Ns: 120, CPU: 1, All: []float64{120, 120, 120}},
	}}
	wantLines(t, tablesOf(t, r, "mlcache"),
		"### 1,000 keys",
		"| shmlru.mlcache always L1 hit | 25.0 ns | ×2.50 | 0 | – | – | 1.00 · 0 of 3 rounds below 0.9 |",
		"| shmlru.mlcache always get, writes | 90.0 ns | ×9.00 | 6 | 0.9900 | 0.9500 | 0.90 · 1 of 3 rounds below 0.9 |",
		"### 100,000 keys",
		"| shmlru.mlcache always L1 hit | 120 ns | ×2.00 | 0 | – | – | 1.00 · 0 of 3 rounds below 0.9 |")
	wantLines(t, tablesOf(t, &Results{MlcacheNote: "nginx: not installed"}, "mlcache"), "| nginx: not installed |")
}
