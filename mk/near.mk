# The near cache in front of Redis (near/): its own Go module, so that the
# Redis client stays out of the main module. Its tests start real
# redis-server processes on loopback (a single server and a 3-node cluster).

TEST_TARGETS += test-near
.PHONY: test-near

test-near:
	cd near && $(GO) vet ./... && $(GO) test -race -count=1 -timeout 5m ./...
