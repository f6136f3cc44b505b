# NovaCron: build, test and run the control plane on one machine.
#   make run     start Postgres, the dev broker and the services (see README)
#   make test    every test against a private Postgres and the dev broker
SHELL := /bin/bash
SWIFT ?= swift
DEBIAN_PACKAGES := librdkafka-dev postgresql protobuf-compiler kcat pkg-config curl python3
PROTOC_GEN_SWIFT := .build/release/protoc-gen-swift

.PHONY: all deps build test test-unit check-deploy run proto bench-bus bench-placement bench-runtime stack-start stack-stop clean

all: build

## deps: install the Debian packages that are missing (needs root or sudo)
deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@python3 -c "import yaml" 2>/dev/null || python3 -m pip install -q pyyaml
	@python3 -c "import moto.server, boto3, flask_cors" 2>/dev/null || python3 -m pip install -q 'moto[server]' boto3

## build: compile every target (debug)
build: deps
	$(SWIFT) build

## test: all tests on a Postgres and dev broker of their own (.run/test, fresh each time, so
## no schema of an earlier run is left and a `make run` stack in .run keeps running)
test: build check-deploy
	@NOVACRON_RUN_DIR=.run/test scripts/devstack.sh stop >/dev/null 2>&1 || true
	rm -rf .run/test
	NOVACRON_RUN_DIR=.run/test scripts/devstack.sh with $(SWIFT) test --no-parallel

## check-deploy: offline checks of compose/ and k8s/
check-deploy: deps
	python3 scripts/check-deploy.py

## test-unit: pure tests only (no servers)
test-unit:
	$(SWIFT) test --filter 'NovaCoreTests|PlacementCoreTests'

## run: the embedded stack in the foreground until Ctrl-C
run: build
	scripts/devstack.sh with scripts/run-stack.sh $(ARGS)

## proto: regenerate Shared/NovaProto from proto/ (protoc + protoc-gen-swift 1.39.0)
proto: deps
	$(SWIFT) build -c release --product protoc-gen-swift
	rm -f Shared/NovaProto/*.pb.swift
	protoc --plugin=protoc-gen-swift=$(PROTOC_GEN_SWIFT) --swift_opt=Visibility=Public \
	  --swift_opt=FileNaming=DropPath --swift_out=Shared/NovaProto -I proto proto/novacron/v1/*.proto

## bench-bus: NovaBus vs kcat throughput, and send latency, on the dev broker
bench-bus: deps
	$(SWIFT) build -c release --product novacron-devbroker
	$(SWIFT) build -c release --product novacron-bench-bus
	NOVACRON_BIN=.build/release scripts/devstack.sh with .build/release/novacron-bench-bus $(ARGS)

## bench-placement: engine decisions/s, p50/p99, packing quality, and end to end on the dev stack
## (its own stack in .run/bench; the dev broker as BENCH_BROKERS brokers, 1 by default like
## compose's single Kafka node: see README, "The placement service")
BENCH_BROKERS ?= 1
bench-placement: deps
	$(SWIFT) build -c release --product novacron-devbroker
	$(SWIFT) build -c release --product novacron-placement
	$(SWIFT) build -c release --product novacron-bench-placement
	NOVACRON_RUN_DIR=.run/bench NOVACRON_BROKERS=$(BENCH_BROKERS) NOVACRON_BIN=.build/release \
	  scripts/devstack.sh with .build/release/novacron-bench-placement --e2e $(ARGS)

## bench-runtime: deadlines fired and committed vs their time (10k over 1 s), and key ownership's
## cost in records/s through the fixture service, on its own stack in .run/bench
bench-runtime: deps
	$(SWIFT) build -c release --product novacron-devbroker
	$(SWIFT) build -c release --product NovaFixtureService
	$(SWIFT) build -c release --product novacron-bench-runtime
	NOVACRON_RUN_DIR=.run/bench NOVACRON_BIN=.build/release \
	  scripts/devstack.sh with .build/release/novacron-bench-runtime $(ARGS)

stack-start: build
	scripts/devstack.sh start

stack-stop:
	scripts/devstack.sh stop

clean:
	scripts/devstack.sh stop || true
	rm -rf .build .run
