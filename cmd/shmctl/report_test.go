package main

import "testing"

func TestRepairSummary(t *testing.T) {
	slot := 1
	dead := lockJSON{State: lockDead, Held: true, Slot: &slot, Pid: 9}
	orphan := lockJSON{State: lockOrphan, Held: true, Orphan: true}
	for _, c := range []struct {
		shards []shardJSON
		want   string
	}{
		{[]shardJSON{{Shard: 0}, {Shard: 1, Lock: lockJSON{State: lockHeld, Held: true, Alive: true}}}, ""},
		{[]shardJSON{{Shard: 0}, {Shard: 1, Lock: dead, AwaitingRepair: true}},
			"shard 1 left locked by a process that died; 'shmctl check --repair' repairs it, as would the next write to it"},
		{[]shardJSON{{Shard: 0, Lock: orphan, AwaitingRepair: true, Dirty: true}, {Shard: 1}, {Shard: 2, Lock: dead, AwaitingRepair: true}},
			"shards 0 (dirty: mid-change; its repair resets it and its entries are lost), 2 left locked by processes that died; " +
				"'shmctl check --repair' repairs them, as would the next write to each"},
	} {
		if got := repairSummary(&report{Shards: c.shards}); got != c.want {
			t.Errorf("repairSummary(%+v) =\n%q, want\n%q", c.shards, got, c.want)
		}
	}
}
