# Two entry points for a fresh clone (python3 is all they need):
#   make demo   a real upload of the sample predictions to the embedded sandbox
#   make test   lint, type-check and the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint bench clean browser-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/upload-preds sample_data/predictions.jsonl sample_data/predictions.csv --sandbox
	$(BIN)/upload-preds sample_data/video_predictions.jsonl --sandbox --dataset demo/street-video
	$(BIN)/upload-preds sample_data/mot --format mot --mot-category car --min-score 0.3 \
		--object-score-attribute confidence --labelset predictions --sandbox --dataset demo/street-video
	$(BIN)/upload-preds sample_data/lidar_predictions.jsonl --sandbox --dataset demo/lidar-sweeps
	$(BIN)/upload-preds sample_data/pcseg_predictions.jsonl --sandbox --dataset demo/lidar-segmentation \
		--category-map sample_data/semantickitti_learning_map.json
	$(BIN)/upload-preds sample_data/rig_predictions.jsonl --sandbox --dataset demo/rig \
		--category-map sample_data/semantickitti_learning_map.json

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

# The review page's browser tests drive Debian's Chromium through its
# chromedriver (Selenium, from the test extras); nothing downloads a browser.
browser-deps: $(STAMP)
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	fi

test: lint browser-deps
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
