# Everyday commands; CI runs .ci/run, which covers test, lint, fuzz, smoke,
# netns and the examples. Needs only Go (and chromium for the status-page test).

GO        ?= go
# FUZZTIME is a count of executions, not a duration: see .ci/run.
FUZZTIME  ?= 200000x
BENCHTIME ?= 1s
# Pinned in .ci/tools/go.mod (its go.sum checks it); run from the repo root.
STATICCHECK = $(GO) tool -modfile=.ci/tools/go.mod staticcheck

.PHONY: all test race short lint fmt vet staticcheck fuzz bench smoke netns examples cluster ingest peer ci

all: lint race

test:          ## all tests
	$(GO) test ./...

race:          ## the README's test command
	$(GO) test -race ./...

short:         ## skip the browser test
	$(GO) test -short ./...

lint: fmt vet staticcheck

fmt:           ## fail if gofmt would change anything
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(STATICCHECK) ./...

fuzz:          ## each fuzz target for FUZZTIME
	for t in FuzzDecode FuzzDecodeSyn FuzzDecodeSynAck FuzzDecodeAck FuzzDecodeBadCluster FuzzDecodeBeat FuzzDecodeSuspect FuzzDecodeMembers FuzzDecodePush; do \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./sync/wire || exit 1; done
	$(GO) test -run '^$$' -fuzz '^FuzzHandle$$' -fuzztime $(FUZZTIME) ./sync
	$(GO) test -run '^$$' -fuzz '^FuzzOpen$$' -fuzztime $(FUZZTIME) ./sync/transport
	$(GO) test -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME) ./node
	$(GO) test -run '^$$' -fuzz '^FuzzDetector$$' -fuzztime $(FUZZTIME) ./health
	$(GO) test -run '^$$' -fuzz '^FuzzRunReader$$' -fuzztime $(FUZZTIME) ./store
	$(GO) test -run '^$$' -fuzz '^FuzzParseCertificate$$' -fuzztime $(FUZZTIME) ./sync/identity
	$(GO) test -run '^$$' -fuzz '^FuzzParseNodeRecord$$' -fuzztime $(FUZZTIME) ./sync/identity
	$(GO) test -run '^$$' -fuzz '^FuzzParseBeatCommitment$$' -fuzztime $(FUZZTIME) ./sync/identity
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./sync/proof

bench:         ## every benchmark, with allocations
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

smoke:         ## four example peers: write, stop, restart, lint /metrics
	bash .ci/smoke

netns:         ## example peers in network namespaces, seed by host name (root)
	bash .ci/netns

examples:      ## run both demos for a bounded time, as CI does
	$(GO) run ./examples/cluster -duration 10s -kill 3s -http "" -plain
	$(GO) run ./examples/ingest -duration 5s

cluster:       ## the live four-peer demo, until Ctrl-C
	$(GO) run ./examples/cluster

ingest:
	$(GO) run ./examples/ingest -duration 10s

peer:          ## one example peer (PEER=1..4); built first, so kill -9 hits the peer itself
	$(GO) build -o bin/peer ./examples/peer && exec bin/peer -config examples/peer$(or $(PEER),1).toml

ci:
	bash .ci/run
