# textloop: every entry point a newcomer, a developer or CI uses. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

CACHE ?= $(HOME)/.cache/textloop
export TEXTLOOP_CACHE := $(CACHE)
export TF_CLI_CONFIG_FILE := $(CACHE)/terraformrc
# Finished Lambda zips and layers, shared by every clone (CI clones afresh each run).
export TEXTLOOP_BUILD_CACHE ?= $(CACHE)/build
# Terraform's own update check and crash reports would try the network.
export CHECKPOINT_DISABLE := 1

PY := .venv/bin/python
LS_PY := .venv-localstack/bin/python
TF := $(CACHE)/bin/terraform
IAC := $(CACHE)/iac-venv/bin
STATE_DIR ?= .localstack
TF_LOCAL := terraform/envs/local
TF_AWS := terraform/envs/aws
PYTEST_ARGS ?=

.PHONY: help setup demo test lint unit emulator-test integration bench review-page \
        localstack-up localstack-down deploy-local destroy-local destroy-aws clean data-demo data-test data-bench

help: ## list the targets
	@awk -F':.*## ' '/^[a-z-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## install everything (venvs, LocalStack, Terraform toolchain); idempotent
	@bash scripts/setup.sh

# Before anything is built or deployed: a clone missing a data file stops here, naming it.
data-demo data-test data-bench: data-%:
	@python3 -m textloop_ops.data $*

demo: data-demo setup deploy-local ## deploy to a local LocalStack and show it working (MODEL=entities: the entity loop)
	@$(PY) scripts/demo.py --state-dir $(STATE_DIR) $(if $(MODEL),--model $(MODEL))

test: data-test lint unit emulator-test integration ## static checks, unit, emulator and LocalStack integration tests

lint: setup ## ruff, terraform fmt/validate (both envs, examples/complete), checkov, trivy, ASL validation
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	$(TF) fmt -check -recursive terraform
	@for root in terraform/envs/aws terraform/envs/local terraform/examples/complete; do \
	  echo "terraform validate $$root"; \
	  TF_DATA_DIR=$(CURDIR)/build/tf-validate/$$(basename $$root) $(TF) -chdir=$$root init -backend=false -input=false >/dev/null; \
	  TF_DATA_DIR=$(CURDIR)/build/tf-validate/$$(basename $$root) $(TF) -chdir=$$root validate; \
	done
	# Offline: no guideline download, no Prisma Cloud mapping call.
	BC_SKIP_MAPPING=TRUE $(IAC)/checkov --skip-download --quiet --compact --framework terraform --config-file .checkov.yaml -d terraform
	$(IAC)/trivy config --skip-check-update --exit-code 1 --quiet terraform
	$(PY) scripts/lint_asl.py

unit: setup ## fast tests: domain code and handlers with moto (real state machine execution)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

emulator-test: setup ## tests of the host Lambda executor and the DynamoDB provider on LocalStack
	$(LS_PY) -m pytest local-emulator/tests $(PYTEST_ARGS)

integration: setup ## terraform apply onto a fresh host LocalStack, drive it over HTTP and in Chromium
	$(PY) -m pytest tests/integration tests/e2e $(PYTEST_ARGS)

bench: data-bench setup ## benchmarks (label efficiency, local models, entity recogniser, latency, batch parsing, iteration overhead, scale) into reports/
	$(PY) -m bench.label_efficiency --out reports
	$(PY) -m bench.local_models --out reports
	$(PY) -m bench.entities --out reports
	$(PY) -m bench.perf.run --out reports
	$(PY) -m bench.scale --out reports
	$(PY) -m bench.scale --sizes 100000 --new 1000000 --out reports

review-page: ## serve the review page for the stack that deploy-local made (REVIEWER=NAME: signed in as NAME)
	$(PY) -m textloop_ops.cli --state-dir $(STATE_DIR) $(if $(REVIEWER),--as $(REVIEWER)) review-page

localstack-up: setup ## start LocalStack on the host on a free port (state in .localstack/)
	@# A new LocalStack starts empty: the Terraform state of the previous one describes nothing.
	@if ! $(PY) -m textloop_ops.localstack endpoint --state-dir $(STATE_DIR) >/dev/null 2>&1; then \
	  rm -f $(STATE_DIR)/terraform.tfstate $(STATE_DIR)/terraform.tfstate.backup; fi
	@$(PY) -m textloop_ops.localstack up --state-dir $(STATE_DIR)

localstack-down: ## stop the LocalStack that localstack-up started
	@python3 -m textloop_ops.localstack down --state-dir $(STATE_DIR)

deploy-local: localstack-up ## terraform apply terraform/envs/local onto the running LocalStack
	@$(TF) -chdir=$(TF_LOCAL) init -input=false -reconfigure \
	  -backend-config=path=$(abspath $(STATE_DIR))/terraform.tfstate >/dev/null
	$(TF) -chdir=$(TF_LOCAL) apply -auto-approve -input=false \
	  -var localstack_endpoint=$$(cat $(STATE_DIR)/endpoint) \
	  -var python_executable=$(abspath $(PY))

destroy-local: ## terraform destroy the local stack (LocalStack keeps running)
	$(TF) -chdir=$(TF_LOCAL) destroy -auto-approve -input=false \
	  -var localstack_endpoint=$$(cat $(STATE_DIR)/endpoint) \
	  -var python_executable=$(abspath $(PY))

# Terraform does not know what the loop created at run time (Comprehend endpoints, model versions,
# flywheels, batch outputs): those go first, found by the stack's tag, then Terraform's own.
# What destroy keeps (buckets unless force_destroy, the registry table's deletion protection):
# README, "What it costs and how to stop paying". TF_DESTROY_ARGS: e.g. -auto-approve, -var ...
destroy-aws: setup ## delete the AWS stack: its run-time resources (textloop resources remove --all), then terraform destroy terraform/envs/aws
	$(TF) -chdir=$(TF_AWS) output -json stack \
	  | $(PY) -m textloop_ops.cli resources --stack-file - remove --all
	$(TF) -chdir=$(TF_AWS) destroy -input=false $(TF_DESTROY_ARGS)

clean: localstack-down ## remove build output and local state (not the toolchain cache)
	rm -rf build $(STATE_DIR) .pytest_cache .ruff_cache
