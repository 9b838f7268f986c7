# edged build, test and benchmark targets. Everything is CGO_ENABLED=0 and static.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BUILD   := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'
CONFIG  ?=

.PHONY: build build-arm64 build-armv7 run test bench fuzz vet clean

build:  ## bin/edged for this machine
	$(BUILD) -o bin/edged ./cmd/edged

build-arm64:  ## bin/edged-linux-arm64 (Raspberry Pi 3/4/5 64-bit OS, most gateways)
	GOOS=linux GOARCH=arm64 $(BUILD) -o bin/edged-linux-arm64 ./cmd/edged

build-armv7:  ## bin/edged-linux-armv7 (32-bit Raspberry Pi OS)
	GOOS=linux GOARCH=arm GOARM=7 $(BUILD) -o bin/edged-linux-armv7 ./cmd/edged

run: build  ## the daemon on defaults (one sim device, data in ./data, cloud off); CONFIG=file to use one
	./bin/edged run $(if $(CONFIG),--config $(CONFIG),)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

test: vet build  ## go vet, gofmt check, and every test with the race detector
	$(GO) test -race -count=1 ./...

bench: build  ## the figures README quotes (needs mosquitto)
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 1 ./sync/outbox ./sync/uplink
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 ./cmd/edged

fuzz:  ## run each fuzzer briefly (seeds live in testdata/fuzz)
	$(GO) test ./internal/yamlconf -run '^$$' -fuzz FuzzDecode -fuzztime 20s
	$(GO) test ./runtime/forwarder -run '^$$' -fuzz FuzzPayload -fuzztime 20s
	$(GO) test ./sync/outbox -run '^$$' -fuzz FuzzDecode -fuzztime 20s
	$(GO) test ./runtime/commands -run '^$$' -fuzz FuzzDecode -fuzztime 20s

clean:
	rm -rf bin
