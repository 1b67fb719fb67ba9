"""Fixtures shared by the test modules: fixture models, the GUI's application, windows and clip, and
a model folder with damaged models beside a good one. Qt is imported only by the fixtures that need it."""

import os
import shutil
from pathlib import Path

import pytest

from runtime_fixtures import MEDIA, _card, export_all, export_generator, good_gender, make_sample

# MediaPipe's native logging is noise in test output.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FPS = 30.0


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    """Fixture gender, age and attribute models (the classifier says 'female' for every face)."""
    return export_all(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def registry(models_dir):
    from mirror.models import Registry

    return Registry(models_dir)


# -- the GUI --------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def qapp():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


@pytest.fixture(scope="session")
def clip(tmp_path_factory) -> Path:
    """3 s of the astronaut at 320x240 (synthetic motion), MJPG."""
    path = tmp_path_factory.mktemp("media") / "astronaut.avi"
    make_sample().make_clip(path, MEDIA / "astronaut.png", seconds=3.0, fps=FPS, size=(320, 240))
    return path


@pytest.fixture
def store(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "mirror.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def open_window(qapp, store, registry):
    """Makes windows that are closed at the end of the test, on the looping clip by default."""
    from mirror.gui.window import Window

    made = []

    def make(source=None, registry_=registry, store_=store) -> Window:
        w = Window(registry_, store_, source, cameras=[])
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture
def looping(clip):
    from mirror.gui.sources import Choice

    return Choice("test clip", str(clip), loop=True)


# -- models --------------------------------------------------------------------------------------

@pytest.fixture
def mixed_models(tmp_path, models_dir) -> Path:
    """The good gender model beside damaged ones of every kind the registry must refuse."""
    folder = good_gender(tmp_path, models_dir)
    good = (models_dir / "age-fixture.onnx").read_bytes()
    (folder / "truncated.onnx").write_bytes(good[: len(good) // 2])
    shutil.copy(models_dir / "age-fixture.json", folder / "truncated.json")
    # A card that lacks a field the runtime needs.
    export_generator(folder, "no-align", "age")
    card = (folder / "no-align.json").read_text().replace('"align"', '"alignment"')
    (folder / "no-align.json").write_text(card)
    # A classifier's card beside a generator's graph: the graph's inputs are not the card's.
    export_generator(folder, "not-a-classifier", "gender")
    _card(folder, "not-a-classifier", "attributes", 128, 0.1, {"image": [-1, 3, 128, 128]},
          {"female": [-1, 1], "age": [-1, 1]})
    # Declared inputs of any size, but built for 128 px inside; its card says 96.
    export_generator(folder, "inner-size", "age")
    graph = (folder / "inner-size.onnx").read_bytes()
    import onnx

    model = onnx.load_from_string(graph)
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        for d, name in zip(dims[2:], "HW"):
            d.dim_param = name
    onnx.save(model, str(folder / "inner-size.onnx"))
    _card(folder, "inner-size", "age", 96, 0.1, {"image": [-1, 3, 96, 96], "condition": [-1, 1]},
          {"output": [-1, 3, 96, 96]}, age_span_years=40)
    return folder
