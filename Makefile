# The two commands a new user types: `make run` and `make test`. Both install what they need.
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CONFIG ?=
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: deps build run test clean

# Debian packages the build links against (libsystemd for sd_notify/journald, SQLite for the store) and
# the systemd package whose journald the integration tests start.
deps:
	@missing=""; \
	pkg-config --exists libsystemd || missing="$$missing libsystemd-dev"; \
	pkg-config --exists sqlite3 || missing="$$missing libsqlite3-dev"; \
	[ -x /lib/systemd/systemd-journald ] && command -v journalctl >/dev/null || missing="$$missing systemd"; \
	command -v pkg-config >/dev/null || missing="$$missing pkg-config"; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build

# Builds and starts kefud on its embedded demo config, SQLite under ./var, listening on 127.0.0.1:7390.
run: build
	$(SWIFT) run kefud $(if $(CONFIG),--config $(CONFIG))

# Every test: unit, codec, store, end to end over loopback, sd_notify, journald (root), restart.
# The CPU-heavy property tests run on their own after the rest, so that on a small machine they cannot starve the
# daemons the end-to-end tests start (whose clients wait a few seconds at most for each line).
test: deps
	$(SWIFT) build --build-tests
	KEFU_BUILD_DIR=$$($(SWIFT) build --show-bin-path) $(SWIFT) test --skip-build --skip PropertyTests
	$(SWIFT) test --skip-build --filter PropertyTests

clean:
	rm -rf .build var

# Regenerates the demo configuration embedded in kefud from deploy/kefud.toml.
demo-config:
	{ printf '%s\n' '/// The demo configuration kefud runs on when started without `--config`: a copy of `deploy/kefud.toml`' \
	  '/// (a test keeps the two identical; `make demo-config` regenerates this file), embedded so that `make run`' \
	  '/// works from a fresh clone with no setup.' 'enum DemoConfiguration {' '    static let text = #"""'; \
	  cat deploy/kefud.toml; printf '\n%s\n%s\n' '"""#' '}'; } > Sources/kefud/DemoConfiguration.swift
