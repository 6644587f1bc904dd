# The two commands a new user types: `make run` and `make test`. Both install what they need.
SWIFT ?= swift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CONFIG ?=
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: deps test-deps build run test clean install uninstall bench-relay fuzz fuzz-blackbox

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

# What only the tests need: a PostgreSQL server of Debian's (the cluster tests start their own, as the postgres
# user, in a temporary directory; the package's own service is not used).
# Prometheus's `promtool` checks kefud's /metrics exposition (Debian's prometheus package; its service is not used).
# The pages are tested in Debian's headless chromium through chromium-driver and selenium (PyPI), and in Debian's
# firefox-esr through Marionette (marionette_driver, PyPI: there is no geckodriver here), with CJK fonts so that the
# screenshots show the Chinese.
test-deps: deps
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "installing: postgresql"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }
	@command -v promtool >/dev/null || { echo "installing: prometheus (for promtool)"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends prometheus; }
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	[ -x /usr/bin/chromedriver ] || missing="$$missing chromium-driver"; \
	[ -d /usr/share/fonts/opentype/noto ] || missing="$$missing fonts-noto-cjk"; \
	[ -x /usr/bin/firefox-esr ] || missing="$$missing firefox-esr"; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi
	@python3 -c 'import selenium, marionette_driver' 2>/dev/null || { echo "installing: selenium, marionette_driver (PyPI)"; \
		python3 -m pip install -q selenium marionette_driver || \
		python3 -m pip install -q --break-system-packages selenium marionette_driver; }

build: deps
	$(SWIFT) build

# Builds and starts kefud on its embedded demo config, SQLite under ./var, listening on 127.0.0.1:7390.
run: build
	$(SWIFT) run kefud $(if $(CONFIG),--config $(CONFIG))

# Every test: unit, codec, store, end to end over loopback, sd_notify, journald (root), restart, kefud's units
# under a real systemd booted in a private namespace (root), and the cluster's leases on a real PostgreSQL (root).
# The CPU-heavy suites run on their own after the rest, so that on a small machine they cannot starve the daemons
# the end-to-end tests start (whose clients wait a few seconds at most for each line, and whose timers are real):
# first the daemons driven hard (floods, storms, long answers), then the property tests.
# The cluster's suites start PostgreSQL servers (initdb is CPU-heavy) and kefud nodes of their own, and time
# failovers: they run on their own too, after the daemons driven hard.
HEAVY_SUITES := BoundedMessagePathTests|BreachStormTests
CLUSTER_SUITES := ShopLeasesTests|PostgresRecordStoreTests|ClusterEndToEndTests|ClusterPartitionTests
# A real browser is CPU-heavy too: the pages' suite runs on its own.
BROWSER_SUITES := BrowserPagesTests
# The safety suites drive daemons hard too (a flood of bad logins, a backup under load, openssl handshakes, a full
# tmpfs): on their own, so that the timing-sensitive end-to-end tests never share the CPU with them.
SAFETY_SUITES := LoginSafetyEndToEndTests|RetentionEndToEndTests|FullDiskTests|TLSEndToEndTests
# The black-box run (issue #14): random and mutated lines from 32 connections against the real kefud, using both
# cores for a minute or two; on its own, after the daemons driven hard. TEST_BLACKBOX_LINES lines in `make test`, the
# full 1,000,000 in `make fuzz-blackbox`.
BLACKBOX_SUITES := BlackBoxFuzzTests
TEST_BLACKBOX_LINES ?= 200000
test: test-deps
	$(SWIFT) build --build-tests
	KEFU_BUILD_DIR=$$($(SWIFT) build --show-bin-path) $(SWIFT) test --skip-build \
		--skip 'PropertyTests|$(HEAVY_SUITES)|$(CLUSTER_SUITES)|$(BROWSER_SUITES)|$(SAFETY_SUITES)|$(BLACKBOX_SUITES)'
	KEFU_BUILD_DIR=$$($(SWIFT) build --show-bin-path) $(SWIFT) test --skip-build --filter '$(SAFETY_SUITES)'
	KEFU_BUILD_DIR=$$($(SWIFT) build --show-bin-path) $(SWIFT) test --skip-build --filter '$(HEAVY_SUITES)'
	KEFU_BUILD_DIR=$$($(SWIFT) build --show-bin-path) KEFU_BLACKBOX_LINES=$(TEST_BLACKBOX_LINES) \
		$(SWIFT) test --skip-build --filter '$(BLACKBOX_SUITES)'
	KEFU_BUILD_DIR=$$($(SWIFT) build --show-bin-path) $(SWIFT) test --skip-build --filter '$(CLUSTER_SUITES)'
	KEFU_BUILD_DIR=$$($(SWIFT) build --show-bin-path) $(SWIFT) test --skip-build --filter '$(BROWSER_SUITES)'
	$(SWIFT) test --skip-build --filter PropertyTests
	$(MAKE) fuzz FUZZ_SECONDS=$(TEST_FUZZ_SECONDS)

# Coverage-guided fuzzing (libFuzzer, with AddressSanitizer): the line framing and request parser, the TOML
# configuration loader, and the routing core driven by decoded commands and clock ticks with its invariants checked
# after each. Fuzz/ is a package of its own (its own .build, so the sanitizer build never disturbs the main one);
# Fuzz/run.sh builds it and runs each target for FUZZ_SECONDS. Seed corpora are in Fuzz/Corpus/; what a run finds and
# any crash input go to Fuzz/.build/fuzz/ (FUZZ_WORK). A crash, a hang or a leak fails the target.
# `make test` runs each target for TEST_FUZZ_SECONDS.
FUZZ_SECONDS ?= 300
TEST_FUZZ_SECONDS ?= 20
FUZZ_TARGETS ?= lines configuration core
fuzz:
	SWIFT=$(SWIFT) Fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The black-box run with the full 1,000,000 lines (several minutes).
fuzz-blackbox: deps
	$(SWIFT) build --build-tests
	KEFU_BUILD_DIR=$$($(SWIFT) build --show-bin-path) KEFU_BLACKBOX_LINES=1000000 \
		$(SWIFT) test --skip-build --filter '$(BLACKBOX_SUITES)'

# The relay benchmark of issue #11: the release kefud against a redis that fsyncs every write (appendonly yes,
# appendfsync always), driven by one client, side by side; several minutes. RELAY_ARGS passes options to it
# (e.g. RELAY_ARGS="--runs 1 --seconds 3 --parts relay"). See Benchmarks/README.md.
bench-relay: deps
	@command -v redis-server >/dev/null || { echo "installing: redis-server"; $(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }
	$(SWIFT) build -c release --product kefud
	cd Benchmarks && $(SWIFT) build -c release --product Relay && \
		.build/release/Relay --kefud ../.build/release/kefud --redis "$$(command -v redis-server)" $(RELAY_ARGS)

clean:
	rm -rf .build var

# Where `make install` puts things (with DESTDIR for staging): the binaries, the unit (in a directory systemd reads,
# ExecStart pointing at BINDIR), the journal message catalog, the message-id list and an example configuration.
# /etc/kefu/kefud.toml (ConfigurationDirectory=kefu) is written only when absent: an edited configuration is kept.
# Binaries come from a release build, or from KEFU_BUILD_DIR when it names a build already made.
BINDIR := $(PREFIX)/bin
UNITDIR := $(PREFIX)/lib/systemd/system
CATALOGDIR := $(PREFIX)/lib/systemd/catalog
DOCDIR := $(PREFIX)/share/doc/kefu
CONFDIR := /etc/kefu
# The board and workspace pages: kefud finds them at ../share/kefu/web from its binary (or [http] pages_dir).
WEBDIR := $(PREFIX)/share/kefu/web

install:
	@bin="$(KEFU_BUILD_DIR)"; \
	if [ -z "$$bin" ]; then $(SWIFT) build -c release && bin=$$($(SWIFT) build -c release --show-bin-path); fi; \
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(CATALOGDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(CONFDIR) \
		$(DESTDIR)$(WEBDIR); \
	install -m 644 web/* $(DESTDIR)$(WEBDIR)/; \
	install -m 755 "$$bin/kefud" "$$bin/kefuctl" $(DESTDIR)$(BINDIR)/; \
	sed 's|/usr/local/bin/kefud|$(BINDIR)/kefud|' deploy/kefud.service > $(DESTDIR)$(UNITDIR)/kefud.service; \
	chmod 644 $(DESTDIR)$(UNITDIR)/kefud.service; \
	install -m 644 deploy/kefud.socket $(DESTDIR)$(UNITDIR)/kefud.socket; \
	install -m 644 deploy/kefud-http.socket $(DESTDIR)$(UNITDIR)/kefud-http.socket; \
	install -m 644 deploy/kefud-tls.socket $(DESTDIR)$(UNITDIR)/kefud-tls.socket; \
	install -m 644 deploy/kefud.catalog $(DESTDIR)$(CATALOGDIR)/kefud.catalog; \
	install -m 644 deploy/kefud.toml $(DESTDIR)$(DOCDIR)/kefud.toml.example; \
	install -m 644 deploy/message-ids.md $(DESTDIR)$(DOCDIR)/message-ids.md; \
	[ -e $(DESTDIR)$(CONFDIR)/kefud.toml ] || install -m 640 deploy/kefud.toml $(DESTDIR)$(CONFDIR)/kefud.toml; \
	if [ -z "$(DESTDIR)" ]; then \
		command -v journalctl >/dev/null && journalctl --update-catalog || true; \
		command -v systemctl >/dev/null && systemctl daemon-reload 2>/dev/null || true; \
	fi

# Removes what `make install` put; /etc/kefu/kefud.toml only when it is still the shipped example.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/kefud $(DESTDIR)$(BINDIR)/kefuctl $(DESTDIR)$(UNITDIR)/kefud.service \
		$(DESTDIR)$(UNITDIR)/kefud.socket $(DESTDIR)$(UNITDIR)/kefud-http.socket $(DESTDIR)$(UNITDIR)/kefud-tls.socket \
		$(DESTDIR)$(CATALOGDIR)/kefud.catalog $(DESTDIR)$(DOCDIR)/kefud.toml.example $(DESTDIR)$(DOCDIR)/message-ids.md
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	rm -rf $(DESTDIR)$(WEBDIR)
	-rmdir $(DESTDIR)$(PREFIX)/share/kefu 2>/dev/null
	cmp -s deploy/kefud.toml $(DESTDIR)$(CONFDIR)/kefud.toml && rm -f $(DESTDIR)$(CONFDIR)/kefud.toml || true
	-rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null
	if [ -z "$(DESTDIR)" ]; then \
		command -v journalctl >/dev/null && journalctl --update-catalog || true; \
		command -v systemctl >/dev/null && systemctl daemon-reload 2>/dev/null || true; \
	fi

# Regenerates the demo configuration embedded in kefud from deploy/kefud.toml.
demo-config:
	{ printf '%s\n' '/// The demo configuration kefud runs on when started without `--config`: a copy of `deploy/kefud.toml`' \
	  '/// (a test keeps the two identical; `make demo-config` regenerates this file), embedded so that `make run`' \
	  '/// works from a fresh clone with no setup.' 'enum DemoConfiguration {' '    static let text = #"""'; \
	  cat deploy/kefud.toml; printf '\n%s\n%s\n' '"""#' '}'; } > Sources/kefud/DemoConfiguration.swift
