# Two commands on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
VS := $(VENV)/bin/vidsearch
DEMO_DB ?= .demo-library
export HF_HUB_OFFLINE ?= 1
# The tests run in two processes (pytest-xdist), a test file in one of them, so a file's fixtures are
# built once; on a slow 2-core machine that took the tests from 13.5 to 10.5 minutes.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

EVAL_DATA ?= benchmarks/quality/library
EVAL_DB ?= benchmarks/results/quality-db

.PHONY: install demo test test-fast bench fixtures eval-data eval clean

install:
	@bash scripts/setup.sh

demo: install
	$(VS) index --db $(DEMO_DB) fixtures/videos
	$(VS) reindex --db $(DEMO_DB) fixtures/videos --dry-run
	$(VS) search --db $(DEMO_DB) -k 5 "猫咪玩毛线球"
	$(VS) search --db $(DEMO_DB) -k 5 "weasels ate our telephone system"
	$(VS) search --db $(DEMO_DB) -k 2 --json "所有线路都忙"
	$(VS) search --db $(DEMO_DB) -k 3 --preset e-commerce "红色碎花连衣裙"
	$(VS) search --db $(DEMO_DB) -k 3 "摩托车"
	$(VS) captions add --db $(DEMO_DB) fixtures/captions/captions.jsonl
	ffmpeg -v error -y -ss 4 -t 5 -i "fixtures/videos/cat and yarn.mp4" -vf "crop=iw*0.95:ih*0.95,scale=320:-2" -an $(DEMO_DB)/upload.mp4
	$(VS) match-clip --db $(DEMO_DB) -k 3 $(DEMO_DB)/upload.mp4

test:
	@VIDSEARCH_TEST_MEDIA=1 bash scripts/setup.sh
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m mypy
	$(PYTEST)

test-fast:
	@VIDSEARCH_TEST_MEDIA=1 bash scripts/setup.sh
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m mypy
	$(PYTEST) -m "not slow"

bench: install
	$(PY) benchmarks/index_rtf.py

# The quality benchmark: real-media videos, hand-written queries with known right moments,
# altered clips and captions, built by script into an ignored folder (a few minutes, once).
eval-data:
	@VIDSEARCH_EVAL_MEDIA=1 bash scripts/setup.sh
	$(PY) benchmarks/quality/build.py --out $(EVAL_DATA)

# Index the benchmark into a fresh library and print the report (minutes; not part of `make test`),
# with what changed since the last `make eval`: its details move to EVAL_PREVIOUS only when this
# run has succeeded. Re-score without re-indexing: .venv/bin/vidsearch eval --db $(EVAL_DB) $(EVAL_DATA)/queries.jsonl
EVAL_OUT := benchmarks/results/quality-details.jsonl
EVAL_PREVIOUS := benchmarks/results/quality-details.previous.jsonl
eval: eval-data
	rm -rf $(EVAL_DB)
	@mkdir -p $(dir $(EVAL_DB))
	$(VS) eval --db $(EVAL_DB) --index $(EVAL_DATA)/videos --captions $(EVAL_DATA)/captions.jsonl \
		--clips $(EVAL_DATA)/clips.jsonl --removed $(EVAL_DATA)/removable.jsonl --out $(EVAL_OUT).new \
		$$([ -f $(EVAL_OUT) ] && echo --compare $(EVAL_OUT)) $(EVAL_DATA)/queries.jsonl
	@if [ -f $(EVAL_OUT) ]; then mv -f $(EVAL_OUT) $(EVAL_PREVIOUS); fi
	mv -f $(EVAL_OUT).new $(EVAL_OUT)

fixtures:
	$(PY) -m pip install -q -e ".[fixtures]"
	$(PY) fixtures/build.py
	$(PY) fixtures/build_trim.py

clean:
	rm -rf $(DEMO_DB) .pytest_cache .mypy_cache
