# Shortcuts; each target bootstraps .venv itself (see scripts/).
.PHONY: serve test check bench
serve:
	bash scripts/serve.sh
test:
	bash scripts/test.sh
check:
	bash .ci/run
bench:
	.venv/bin/python -m bench.run_all
