// Package near makes a shmlru region each host's shared near cache in front
// of Redis, kept coherent by Redis's server-assisted client-side caching.
//
// Every process on a host that opens a Client with the same cache path
// shares one region: a value one of them read from Redis is a hit for all
// of them, nginx workers included (resty.shmlru.near). One process per
// host, the agent, holds the only tracking connection to each Redis node
// (CLIENT TRACKING ON BCAST, with the configured prefixes) and deletes
// from the region every key Redis says changed. Any Client may be the
// agent: they compete for the role through the region (an OFD lock the
// kernel drops when the holder dies), and when the agent dies another
// takes over within ClaimInterval. cmd/shmlru-near runs the agent alone,
// for hosts where only nginx uses the region.
//
// # What a reader may see
//
// Get answers from the region on a hit. On a miss one caller on the whole
// host reads Redis (lru's read-through flights) and stores the value for
// at most MaxTTL. The promise, the documented bound:
//
//	A value that Redis changed more than MaxLag ago is never served.
//
// The agent pings every node on its tracking connection every MaxLag/4.
// A ping's reply comes after every invalidation Redis sent before it, so
// once the agent has applied them, the region reflects every change made
// before the ping was sent; the agent publishes "in step until sent +
// MaxLag" in the region. A reader that finds the region out of step (no
// agent, a stalled or paused connection, a frozen agent) reads Redis and
// caches nothing until the agent confirms again. Whenever the stream of
// invalidations may have lost a message (the connection dropped, the agent
// changed, Redis restarted, a FLUSHALL's null invalidation, the cluster's
// nodes changed) the agent drops every cached key at once by advancing the
// region's generation (lru.Tracker.InvalidateAll), before anyone reads
// again. A fill that read Redis before an invalidation of its key arrived
// does not store what it read (the "caching in progress" race, see
// lru.Tracker.StoreFill).
//
// Set and Del write Redis, then invalidate the key in this host's region
// at once (read your writes); every other host's agent hears of the change
// from Redis.
//
// # Why rueidis
//
// The agent needs RESP3 push messages on a connection of its own per node,
// a callback when a connection is lost, and cluster topology; rueidis
// gives all three (DedicatedClient.SetOnInvalidations, which it calls with
// nil on FLUSHALL and on disconnection, and Client.Nodes), is maintained by
// the Redis organisation, and is what the per-process client-side caches
// this package replaces are built on.
package near
