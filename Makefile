# AMS — every target works on a machine that has only Go: tools are pinned
# and fetched with `go run tool@version`.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

GO        ?= go
BUF       := $(GO) run github.com/bufbuild/buf/cmd/buf@v1.75.0
GOLANGCI  := $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
# Every module of the workspace; there is no module at the root.
MODULES   := $(shell $(GO) list -f '{{.Dir}}' -m)
CONFIG    ?= deploy/examples/ams.yaml
BINARIES  := ams amsctl ingest classifier executor ticketing escalation ams-sandbox
BENCHTIME ?= 2000x
FUZZTIME  ?= 10s

.PHONY: all build run test test-go check-generated generate lint bench fuzz tidy clean help
all: build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build bin/ams, bin/amsctl, one binary per service, and bin/ams-sandbox
	@mkdir -p bin
	$(GO) build -o bin/ ./services/ams/cmd/ams ./services/ams/cmd/amsctl \
		./services/ingest/cmd/ingest ./services/classifier/cmd/classifier ./services/executor/cmd/executor \
		./services/ticketing/cmd/ticketing ./services/escalation/cmd/escalation ./services/executor/cmd/ams-sandbox

# The sandbox (the demo customer's hosts behind local AWS, SSH and DNS
# servers) starts first, writes the tenant's SSH key, and runs ams with its
# AWS credentials; both stop together.
run: build ## run the all-in-one with embedded JetStream, the example config and the sandbox
	bin/ams-sandbox -dir=data/sandbox -- bin/ams -config.file=$(CONFIG)

test: check-generated test-go ## every module's tests with -race, and generated code up to date

test-go:
	@for m in $(MODULES); do \
		echo "== go test -race $${m#$(CURDIR)/}"; \
		(cd $$m && $(GO) test -race -count=1 ./...) || exit 1; \
	done

generate: ## regenerate Go code from proto/
	cd proto && $(BUF) lint && $(BUF) generate

# Regenerates into a temporary folder and compares with what is committed,
# so stale generated code fails the build.
check-generated:
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	(cd proto && $(BUF) lint && $(BUF) generate -o "$$tmp"); \
	diff -r --exclude='*.proto' --exclude='*.yaml' --exclude='*.mod' --exclude='*.sum' --exclude='doc.go' \
		"$$tmp/ams" proto/ams || { echo "generated code in proto/ is stale: run 'make generate' and commit"; exit 1; }
	@echo "generated code is up to date"

lint: ## buf lint and golangci-lint on every module
	cd proto && $(BUF) lint
	@fail=0; for m in $(MODULES); do echo "== golangci-lint $${m#$(CURDIR)/}"; (cd $$m && $(GOLANGCI) run ./...) || fail=1; done; exit $$fail

bench: ## run the benchmarks and print their figures
	cd services/ams && $(GO) test -run '^$$' -bench 'Pipeline|Ingest' -benchtime $(BENCHTIME) -benchmem ./app/
	# Alert sent → first check output of its runbook, against the sandbox; one iteration is one incident.
	cd services/ams && $(GO) test -run '^$$' -bench AlertToFirstCheck -benchtime 200x ./app/
	cd services/executor && $(GO) test -run '^$$' -bench . -benchtime 50x ./app/
	cd services/classifier && $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -benchmem ./app/ ./internal/rules/
	# One replay iteration is 10,000 alerts through two policies: a few are enough.
	cd services/classifier && $(GO) test -run '^$$' -bench . -benchtime 3x -benchmem ./replay/

fuzz: ## run every fuzz target of every module for FUZZTIME each (CI: a short run)
	@GO=$(GO) scripts/fuzz.sh $(FUZZTIME) $(MODULES)

tidy: ## go mod tidy in every module
	@for m in $(MODULES); do (cd $$m && GOWORK=off $(GO) mod tidy); done

clean: ## remove binaries and the example data folder
	rm -rf bin data
