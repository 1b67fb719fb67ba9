"""The GUI's start state from the command line, `--reset-settings`, and the model readout."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings

from mirror import cli
from mirror.gui import settings
from mirror.gui.panel import model_line, model_lines
from mirror.models import Registry, default_models


def launch(models_dir, clip, ini, tmp_path, *options) -> int:  # noqa: F811
    return cli.main(["--source", str(clip), "--models", str(models_dir), "--settings", str(ini), *options,
                     "--screenshot", str(tmp_path / "shot.png"), "--quit-after-frames", "3"])


def test_effect_options_without_out_start_the_gui(qapp, models_dir, clip, tmp_path):  # noqa: F811
    args = cli.parser().parse_args(cli.route(["--effect", "female", "--age", "0.3"]))
    assert (args.command, args.effect, args.age) == ("gui", "female", 0.3)
    ini = tmp_path / "s.ini"
    assert launch(models_dir, clip, ini, tmp_path, "--effect", "female", "--age", "0.3", "--intensity", "0.6",
                  "--overlay", "lips") == 0
    prefs = settings.load(QSettings(str(ini), QSettings.Format.IniFormat))
    assert (prefs.gender, prefs.age, prefs.intensity, prefs.overlays, prefs.landmarks) == ("female", 0.3, 0.6, True, False)
    # Options not given keep what was remembered; debug shows the landmarks.
    assert launch(models_dir, clip, ini, tmp_path, "--overlay", "debug") == 0
    prefs = settings.load(QSettings(str(ini), QSettings.Format.IniFormat))
    assert (prefs.gender, prefs.age, prefs.landmarks) == ("female", 0.3, True)


def test_reset_settings_forgets_a_gone_file_and_the_effect(qapp, models_dir, clip, tmp_path, capsys):  # noqa: F811
    ini = tmp_path / "s.ini"
    old = QSettings(str(ini), QSettings.Format.IniFormat)
    settings.save(old, settings.Prefs(gender="male", age=-0.5, source=str(tmp_path / "gone.mp4"), folder="/elsewhere"))
    del old
    assert launch(models_dir, clip, ini, tmp_path, "--reset-settings") == 0
    assert f"mirror: settings reset ({ini})" in capsys.readouterr().err
    prefs = settings.load(QSettings(str(ini), QSettings.Format.IniFormat))
    assert (prefs.gender, prefs.age, prefs.folder) == (None, 0.0, "")
    assert prefs.source == str(clip.resolve()), "remembered as an absolute path"


def test_model_readout_says_what_tells_models_apart(models_dir):
    """Per effect, the model that runs it: the shipped edit model serves gender only, beside the
    age model."""
    shipped = Registry(default_models())
    assert model_lines(shipped) == {"gender": "fp32, 128 px", "age": "int8, 128 px", "attributes": "int8, 128 px"}
    fixture = Registry(models_dir).get("gender")
    assert model_line(fixture.card) == "gender-fixture, fp32, 128 px"


def test_pressing_swap_again_decides_each_face_afresh(qapp, registry, clip, tmp_path, monkeypatch):  # noqa: F811
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    import mirror.gui.worker as worker
    from mirror.gui.sources import Choice
    from mirror.gui.window import Window
    from gui_fixtures import next_frames

    pipelines = []
    back = worker.Pipeline.back
    monkeypatch.setattr(worker.Pipeline, "back", lambda self, work: pipelines.append(self) or back(self, work))
    store = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    w = Window(registry, store, Choice("clip", str(clip), loop=True), cameras=[])
    w.show()
    try:
        w.set_gender("swap")
        next_frames(w, 25, lambda shown: shown.prefs.gender == "swap" and shown.faces)
        votes = pipelines[-1].translator.votes
        (first,) = votes.values()
        assert first.n >= 20, "decided"
        QTest.keyClick(w, Qt.Key.Key_W)
        next_frames(w, 3)
        (again,) = votes.values()
        assert again is not first and again.n < first.n
        assert "again" in w.statusBar().currentMessage()
    finally:
        w.close()
