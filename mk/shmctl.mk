# shmctl, the operator's CLI (cmd/shmctl). Its tests run in test-go.
# The go tool decides whether anything needs rebuilding, so the target is
# phony and always asks it.

BUILD_TARGETS += $(BUILD)/shmctl
DEMO_DEPS     += $(BUILD)/shmctl

.PHONY: $(BUILD)/shmctl
$(BUILD)/shmctl:
	$(GO) build $(GOFLAGS) -o $@ ./cmd/shmctl
