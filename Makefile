# edged build, test and benchmark targets. Everything is CGO_ENABLED=0 and static.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BUILD   := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'
CONFIG  ?=

PREFIX  ?= /usr/local
DESTDIR ?=
BIN     ?= bin/edged

.PHONY: build build-arm64 build-armv7 run test bench fuzz vet clean install image deb

build:  ## bin/edged for this machine
	$(BUILD) -o bin/edged ./cmd/edged

build-arm64:  ## bin/edged-linux-arm64 (Raspberry Pi 3/4/5 64-bit OS, most gateways)
	GOOS=linux GOARCH=arm64 $(BUILD) -o bin/edged-linux-arm64 ./cmd/edged

build-armv7:  ## bin/edged-linux-armv7 (32-bit Raspberry Pi OS)
	GOOS=linux GOARCH=arm GOARM=7 $(BUILD) -o bin/edged-linux-armv7 ./cmd/edged

image:  ## the arm64 container image edged:arm64 (needs docker buildx; PLATFORM=linux/arm/v7 for 32-bit)
	docker buildx build --platform $(or $(PLATFORM),linux/arm64) -f Dockerfile.arm64 --build-arg VERSION=$(VERSION) -t edged:$(or $(TAG),arm64) .

run: build  ## the daemon on defaults (one sim device, data in ./data, cloud off); CONFIG=file to use one
	./bin/edged run $(if $(CONFIG),--config $(CONFIG),)

vet:  ## go vet (the daemon and the sdk module) and the gofmt check
	$(GO) vet ./...
	cd sdk && $(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

test: vet build  ## go vet, gofmt check, and every test with the race detector
	$(GO) test -race -count=1 ./...

bench: build  ## the figures README quotes (needs mosquitto, python3-pymodbus)
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 1 ./sync/outbox ./sync/uplink
	cd sdk && $(GO) test -run '^$$' -bench . -benchtime 2s -count 1 ./pluginapi
	$(GO) test -run '^$$' -bench . -benchtime 20x -count 1 ./runtime/supervisor
	$(GO) test -run '^$$' -bench . -benchtime 200000x -count 1 ./sync/broker
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 ./cmd/edged
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 ./drivers/modbus
	$(GO) test -run '^$$' -bench . -benchtime 500x -count 1 ./runtime/dataplane

fuzz:  ## run each fuzzer briefly (seeds live in testdata/fuzz)
	$(GO) test ./internal/yamlconf -run '^$$' -fuzz FuzzDecode -fuzztime 20s
	$(GO) test ./runtime/forwarder -run '^$$' -fuzz FuzzPayload -fuzztime 20s
	$(GO) test ./sync/outbox -run '^$$' -fuzz FuzzDecode -fuzztime 20s
	$(GO) test ./runtime/commands -run '^$$' -fuzz FuzzDecode -fuzztime 20s
	$(GO) test ./drivers/mqttsensor -run '^$$' -fuzz FuzzDecode -fuzztime 20s
	$(GO) test ./runtime/plan -run '^$$' -fuzz FuzzParse -fuzztime 20s
	$(GO) test ./runtime/plan -run '^$$' -fuzz FuzzDecodeEnvelope -fuzztime 20s
	$(GO) test ./drivers/modbus -run '^$$' -fuzz FuzzConfig -fuzztime 20s
	$(GO) test ./drivers/modbus -run '^$$' -fuzz FuzzValue -fuzztime 20s
	$(GO) test ./drivers/modbus/modbussim -run '^$$' -fuzz FuzzHandle -fuzztime 20s
	$(GO) test ./cmd/edged -run '^$$' -fuzz FuzzJSONToYAML -fuzztime 20s

install:  ## install BIN (default bin/edged), the systemd unit and a first config; as root on the gateway
	@test -x $(BIN) || { echo "no $(BIN): run make build (or make build-arm64 and BIN=bin/edged-linux-arm64)"; exit 1; }
	@if [ -z "$(DESTDIR)" ]; then \
		id -u edged >/dev/null 2>&1 || useradd --system --home-dir /var/lib/edged --shell /usr/sbin/nologin edged; \
		for g in gpio i2c spi dialout; do \
			if getent group $$g >/dev/null; then usermod -aG $$g edged && echo "edged added to group $$g"; \
			else echo "no group $$g on this host: skipped (the unit does not need it)"; fi; \
		done; fi
	@if [ -z "$(DESTDIR)" ] && ! id -u edged-svc >/dev/null 2>&1; then \
		useradd --system --no-create-home --home-dir / --shell /usr/sbin/nologin edged-svc; fi
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/edged
	install -D -m 0644 deploy/edged.service $(DESTDIR)/etc/systemd/system/edged.service
	test -e $(DESTDIR)/etc/edged/edged.yaml || install -D -m 0644 deploy/edged.yaml $(DESTDIR)/etc/edged/edged.yaml
	install -D -m 0644 examples/sim-board.yaml $(DESTDIR)$(PREFIX)/share/doc/edged/sim-board.yaml
	install -D -m 0644 deploy/edged-pwm.conf $(DESTDIR)$(PREFIX)/share/doc/edged/edged-pwm.conf
	@if [ -z "$(DESTDIR)" ] && command -v systemctl >/dev/null; then systemctl daemon-reload; \
		echo "installed: sudo systemctl enable --now edged; journalctl -u edged -f"; fi

clean:
	rm -rf bin dist

# .deb packages with nfpm (packaging/: nfpm.yaml, maintainer scripts). nfpm is
# a build tool, installed pinned into bin/tools, not a dependency in go.mod.
DEB_ARCHS    ?= amd64 arm64 armhf
DEB_VERSION  ?= $(shell packaging/deb-version '$(VERSION)')
NFPM_VERSION ?= v2.48.0
NFPM         := bin/tools/nfpm-$(NFPM_VERSION)

$(NFPM):
	@mkdir -p $(@D)/.nfpm-$(NFPM_VERSION)
	GOBIN=$(CURDIR)/$(@D)/.nfpm-$(NFPM_VERSION) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
	mv $(@D)/.nfpm-$(NFPM_VERSION)/nfpm $@ && rmdir $(@D)/.nfpm-$(NFPM_VERSION)

deb: $(NFPM)  ## dist/edged_VERSION_ARCH.deb for amd64, arm64, armhf (DEB_ARCHS=, DEB_VERSION= to choose)
	@for a in $(DEB_ARCHS); do \
		case $$a in amd64) arch="GOARCH=amd64";; arm64) arch="GOARCH=arm64";; armhf) arch="GOARCH=arm GOARM=7";; \
		*) echo "DEB_ARCHS: unknown architecture $$a (amd64, arm64, armhf)"; exit 2;; esac; \
		echo "edged $(VERSION) for $$a ($$arch)"; \
		env GOOS=linux $$arch $(BUILD) -o dist/stage/$$a/edged ./cmd/edged || exit 1; \
	done
	NFPM=$(NFPM) DEB_VERSION='$(DEB_VERSION)' packaging/build-deb $(DEB_ARCHS)

# proto regenerates sdk/pluginapi/internal/pluginpb from sdk/pluginapi/pluginapi.proto.
# Pinned: protoc 3.21.12 (Debian 12: apt-get install -y protobuf-compiler; another protoc
# only changes the version comment in the output), protoc-gen-go v1.36.12 (matches
# google.golang.org/protobuf in sdk/go.mod), protoc-gen-go-grpc v1.6.2 (needs grpc >= 1.64).
# The generators are installed into bin/protoc-gen (not your GOBIN).
PROTOC_GEN_GO_VERSION      ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.6.2
.PHONY: proto
proto:  ## regenerate the plugin contract's Go code in the sdk module (needs protoc)
	@command -v protoc >/dev/null || { echo "no protoc: apt-get install -y protobuf-compiler"; exit 1; }
	@protoc --version | grep -q ' 3\.21\.12$$' || echo "note: protoc is $$(protoc --version), the committed code used 3.21.12"
	GOBIN=$(CURDIR)/bin/protoc-gen $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(CURDIR)/bin/protoc-gen $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	PATH="$(CURDIR)/bin/protoc-gen:$$PATH" protoc -I sdk/pluginapi \
		--go_out=sdk --go_opt=module=github.com/edged-gateway/edged/sdk \
		--go-grpc_out=sdk --go-grpc_opt=module=github.com/edged-gateway/edged/sdk \
		sdk/pluginapi/pluginapi.proto
