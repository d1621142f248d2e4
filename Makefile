# Shortcuts; each target bootstraps .venv itself (see scripts/).
.PHONY: serve test check bench
serve:
	bash scripts/serve.sh
test:
	bash scripts/test.sh
check:
	bash .ci/run
bench:
	bash -c "source scripts/bootstrap.sh"
	.venv/bin/python -m bench.run --source debian
