# holdover build and test entry points. FTS5 is compiled into SQLite with the
# sqlite_fts5 tag; every go command here passes it.
GO        ?= go
TAGS      := sqlite_fts5
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
PKGS      := ./...
STATICCHECK_VERSION := v0.8.2

.PHONY: build test test-deps fmt-check vet unit fuzz lint bench bench-mail bench-imapd bench-calendar bench-files bench-outbox model-long clean

build:
	$(GO) build -tags $(TAGS) -ldflags '$(LDFLAGS)' -o bin/holdover ./cmd/holdover

# test: formatting, vet, then every test with the race detector. As root,
# the real test servers (Dovecot, Radicale, Apache) and Chromium are
# installed first when missing; CI=true turns a missing server or browser
# into a failure instead of a skip.
test: test-deps fmt-check vet unit fuzz

test-deps:
	@if [ "$$(id -u)" = 0 ]; then ./scripts/install-test-deps.sh; \
	else echo "make test: not root; not installing test servers (tests that need a missing one skip, or fail with CI=true)"; fi

fmt-check:
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet -tags $(TAGS) $(PKGS)

unit:
	$(GO) test -tags $(TAGS) -race -count=1 -timeout 15m $(PKGS)

# fuzz: a short run of each fuzz target (the seed corpus also runs in
# unit); FUZZTIME=2000000x or =5m for a longer hunt. A count, not a
# duration, by default: a duration can end the run while a worker is in
# the middle of an input, which go test reports as a failure ("context
# deadline exceeded") although nothing was found.
FUZZTIME ?= 200000x
# FuzzSession plays each input as a whole IMAP session against a real
# store (an input that leaves a literal open waits a second for the
# server): a few thousand inputs a minute, so a count of its own.
FUZZTIME_IMAPD ?= 5000x
fuzz:
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./internal/ical/
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz '^FuzzExpand$$' -fuzztime $(FUZZTIME) ./internal/ical/
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz '^FuzzCheckName$$' -fuzztime $(FUZZTIME) ./connectors/localfs/
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz '^FuzzSession$$' -fuzztime $(FUZZTIME_IMAPD) ./endpoints/imapd/

lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) -tags $(TAGS) $(PKGS)

bench:
	$(GO) test -tags $(TAGS) -run '^$$' -bench . -benchmem $(PKGS)

# bench-mail: holdover against mbsync on a generated mailbox (MSGS=10000).
bench-mail:
	./bench/mail.sh $(MSGS)

# bench-imapd: mbsync pulling the mailbox (MSGS=10000) from holdover's
# IMAP endpoint against the same from Dovecot, plus FETCH/SEARCH latency.
bench-imapd:
	./bench/imapd.sh $(MSGS)

# model-long: the randomized model test of the mail mirror over 50 seeds
# per server (make test runs 2); SEEDS=n to change it.
SEEDS ?= 50
model-long:
	HOLDOVER_MODEL_SEEDS=$(SEEDS) $(GO) test -tags $(TAGS) -count=1 -timeout 2h -run 'TestMailModel' -v ./cmd/holdover/ 2>&1 | grep -E '^(=== RUN|\s*--- (PASS|FAIL)|ok|FAIL|PASS)|seed [0-9]+ on'

# bench-calendar: holdover against vdirsyncer on generated Radicale
# calendars (EVENTS=5000), on loopback and over a 50 ms link.
bench-calendar:
	./bench/calendar.sh $(EVENTS)

# bench-files: holdover against rclone bisync on a generated tree (5,000
# files, 300 MB) on the same Apache WebDAV, on loopback and over a 50 ms
# link, plus a 2 GB file; QUICK=1 for a small run.
bench-files:
	./bench/files.sh $(if $(QUICK),quick)

# bench-outbox: enqueue latency and drain times of the outbox.
bench-outbox:
	./bench/outbox.sh

clean:
	rm -rf bin
