# Developer entry points. `make run` and `make test` work on a fresh machine with a Rust toolchain.

CARGO   ?= cargo
PREFIX  ?= /usr/local
DESTDIR ?=
BINARY  := target/release/pipy

.PHONY: all build run test fmt lint bench install clean

all: build

## build: optimised binary at target/release/pipy
build:
	$(CARGO) build --release

## run: build, then serve examples/gateway on :8000 in front of its mock services on :8080-8082 (Ctrl-C stops both)
run: build
	./scripts/install-run-deps.sh
	examples/gateway/run.sh $(BINARY)

## test: unit and integration tests
test:
	$(CARGO) test --all-targets

## fmt: format the sources
fmt:
	$(CARGO) fmt --all

## lint: formatting check and clippy with warnings as errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

## bench: pipy-rs against nginx and HAProxy (bench/run.sh installs and builds what it needs)
bench:
	bench/run.sh

## install: binary, systemd unit and sysconfig example under $(DESTDIR)$(PREFIX)
install: build
	install -D -m 0755 $(BINARY) $(DESTDIR)$(PREFIX)/bin/pipy
	@for unit in systemd/*.service; do \
		[ -f "$$unit" ] || continue; \
		echo "install $$unit"; \
		install -D -m 0644 "$$unit" "$(DESTDIR)$(PREFIX)/lib/systemd/system/$$(basename $$unit)"; \
	done
	@for example in systemd/*.sysconfig systemd/sysconfig*; do \
		[ -f "$$example" ] || continue; \
		echo "install $$example"; \
		install -D -m 0644 "$$example" "$(DESTDIR)$(PREFIX)/share/doc/pipy/$$(basename $$example).example"; \
	done

clean:
	$(CARGO) clean
