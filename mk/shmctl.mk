# shmctl, the operator's CLI (cmd/shmctl). Its tests run in test-go.
# The go tool decides whether anything needs rebuilding, so the target is
# phony and always asks it. It is built without cgo, as `go install` builds
# it for users: a static binary that needs nothing outside the module.

BUILD_TARGETS += $(BUILD)/shmctl
DEMO_DEPS     += $(BUILD)/shmctl

.PHONY: $(BUILD)/shmctl
$(BUILD)/shmctl:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS) -o $@ ./cmd/shmctl
