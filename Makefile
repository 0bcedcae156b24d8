# make test   : create .venv, install torch (CPU wheel) first, then the package with its test extras, run the suite
# make demo   : create .venv, install the demo + body extras (every Space), serve every Space as tabs on http://127.0.0.1:7860
# make bench  : run the speed/memory benchmarks and write JSON to benchmarks/results/
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
TORCH  ?= torch==2.13.0
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY ?= 1
export GRADIO_ANALYTICS_ENABLED ?= False

.PHONY: test demo bench venv install-test install-demo clean

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH)"
	touch $@

venv: $(VENV)/.created

install-test: venv
	$(PIP) install -q "$(TORCH)" -e ".[demo,body,metrics,data,video,test]"

install-demo: venv
	$(PIP) install -q "$(TORCH)" -e ".[demo,body]"

test: install-test
	$(PY) -m pytest -q -p no:cacheprovider --durations=15

demo: install-demo
	$(VENV)/bin/nlv-hf demo

bench: install-test
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache build dist src/*.egg-info
