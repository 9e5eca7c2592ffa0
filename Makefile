.PHONY: demo test lint unit bench faults

# The two commands of the README.
demo:
	@ASSETS=$$(scripts/bootstrap.sh) && KUBEBUILDER_ASSETS=$$ASSETS .venv/bin/seccomp-operator demo $(ARGS)

test:
	@ASSETS=$$(scripts/bootstrap.sh) && $(MAKE) --no-print-directory lint && \
	  KUBEBUILDER_ASSETS=$$ASSETS .venv/bin/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

lint:
	.venv/bin/ruff check seccomp_operator tests bench
	.venv/bin/ruff format --check seccomp_operator tests bench
	.venv/bin/mypy
	.venv/bin/lint-imports

bench:
	@ASSETS=$$(scripts/bootstrap.sh) && KUBEBUILDER_ASSETS=$$ASSETS .venv/bin/python -m bench $(ARGS)
