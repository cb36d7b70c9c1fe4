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

.PHONY: all setup rust-targets venv build component host demo test test-rust test-python \
        lint wit clean

all: build

## Install what is missing: rustup targets and the pinned Python venv.
setup: rust-targets venv

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

## Build the component (release) into dist/ and into the Python package.
build: component host

component: rust-targets
	$(CARGO) build -p sark-policy-component --target wasm32-wasip2 --profile guest
	mkdir -p $(DIST)
	cp target/wasm32-wasip2/guest/sark_policy_component.wasm $(COMPONENT)
	cp $(COMPONENT) $(PYPKG_WASM)
	@ls -l $(COMPONENT)

host: component
	$(CARGO) build -p sark-policy-host --release

## Print the component's WIT world.
wit: component venv
	$(VENV)/bin/wasm-tools component wit $(COMPONENT)

demo: build
	./target/release/sark-policy decide --policy examples/authz.rego --data examples/data.json --progress 10 \
	  --rule data.authz.allow < examples/requests.jsonl

test: build venv test-rust test-python

test-rust: build
	$(CARGO) test --workspace --release

test-python: venv component
	$(PY) -m pip install -q --no-deps --force-reinstall ./python-host
	cd python-host && ../$(PY) -m pytest -q tests
	cd python-host && ../$(PY) -m mypy --strict src/sark_policy

lint: rust-targets
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p sark-policy-core -p sark-policy-component --target wasm32-wasip2 -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(DIST) $(PYPKG_WASM)
