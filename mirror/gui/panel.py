"""The side panel: source, effect, view and capture controls, and the readouts. It only lays the
widgets out and formats numbers; the window decides what they do."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QSlider,
                               QToolButton, QVBoxLayout, QWidget)

from ..models import Registry
from .actions import Actions
from .stats import KEYS

STEPS = 100  # slider ticks per unit: age -1..1 is -100..100, intensity 0..1 is 0..100
WIDTH = 300
LABELS = {"total": "pipeline", "latency": "end to end"}


def button(action: QAction, name: str = "") -> QToolButton:
    b = QToolButton()
    b.setDefaultAction(action)
    b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the shortcuts, not to a focused button
    b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    if name:
        b.setObjectName(name)
    return b


def heading(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("heading")
    return label


def slider(lo: int, hi: int, name: str = "") -> QSlider:
    s = QSlider(Qt.Orientation.Horizontal)
    s.setObjectName(name)
    s.setRange(lo, hi)
    s.setSingleStep(5)
    s.setPageStep(20)
    s.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return s


class Panel(QWidget):
    """`age` and `intensity` are sliders in STEPS per unit."""

    def __init__(self, actions: Actions):
        super().__init__()
        self.setObjectName("panel")
        self.setFixedWidth(WIDTH)
        box = QVBoxLayout(self)
        box.setContentsMargins(16, 12, 16, 12)
        box.setSpacing(6)

        box.addWidget(heading("Source"))
        self.source = QComboBox()
        self.source.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.source.setToolTip("Where the picture comes from  (C: next source)")
        box.addWidget(self.source)
        box.addLayout(_row(button(actions.open_file), button(actions.reopen)))

        box.addWidget(heading("Effect"))
        self.genders = {name: button(actions.gender(name), "segment") for name in (None, "female", "male", "swap")}
        self.genders[None].setObjectName("segmentFirst")
        self.genders["swap"].setObjectName("segmentLast")
        box.addLayout(_row(*self.genders.values(), spacing=0))
        self.age_value = _caption("", "value")
        box.addLayout(_row(_caption("Age"), self.age_value, stretch_between=True))
        self.age = slider(-STEPS, STEPS, "centred")
        self.age.setToolTip("Younger (Y) or older (O); A: back to the centre")
        box.addLayout(_row(_caption("younger", "scale"), self.age, _caption("older", "scale"), spacing=8))
        self.intensity_value = _caption("", "value")
        box.addLayout(_row(_caption("Intensity"), self.intensity_value, stretch_between=True))
        self.intensity = slider(0, STEPS)
        self.intensity.setToolTip("How much of the generated face: - and + keys")
        box.addWidget(self.intensity)
        self.model_note = QLabel(wordWrap=True)
        self.model_note.setObjectName("warning")
        box.addWidget(self.model_note)

        box.addWidget(heading("View"))
        grid = QGridLayout()
        grid.setSpacing(6)
        for i, action in enumerate((actions.mirrored, actions.split, actions.landmarks, actions.overlays)):
            grid.addWidget(button(action, "toggle"), i // 2, i % 2)
        box.addLayout(grid)

        box.addWidget(heading("Capture"))
        box.addLayout(_row(button(actions.snapshot), button(actions.record, "record"), button(actions.fullscreen)))
        box.addWidget(button(actions.virtual_camera, "toggle"))
        self.folder = _caption("", "note")
        folder_button = button(actions.folder)
        folder_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        box.addLayout(_row(self.folder, folder_button, stretch_between=True))

        box.addWidget(heading("Performance"))
        self.fps = QLabel("–")
        self.fps.setObjectName("fps")
        self.fps.setTextFormat(Qt.TextFormat.RichText)
        box.addWidget(self.fps)
        self.timings = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(1)
        for i, key in enumerate(KEYS):  # two columns of stage: ms
            value = _caption("–", "ms")
            value.setAlignment(Qt.AlignmentFlag.AlignRight)
            grid.addWidget(_caption(LABELS.get(key, key), "stage"), i // 2, 2 * (i % 2))
            grid.addWidget(value, i // 2, 2 * (i % 2) + 1)
            self.timings[key] = value
        box.addLayout(grid)

        box.addWidget(heading("Model"))
        self.models = QLabel(wordWrap=True)
        self.models.setObjectName("models")
        self.models.setTextFormat(Qt.TextFormat.RichText)
        box.addWidget(self.models)
        box.addStretch()

    def set_age(self, age: float) -> None:
        self.age.setValue(round(age * STEPS))
        self.age_value.setText("unchanged" if round(age * STEPS) == 0 else f"{age:+.2f}")

    def set_intensity(self, intensity: float) -> None:
        self.intensity.setValue(round(intensity * STEPS))
        self.intensity_value.setText(f"{round(intensity * 100)} %")

    def set_models(self, registry: Registry) -> None:
        """The models in use and where they run; which effects have no model."""
        missing = [effect for effect, task in (("gender", "gender"), ("age", "age"), ("swap", "attributes"))
                   if registry.serving(task) is None]
        where = registry.folder or "the model folder"
        self.model_note.setText(f"No model for {', '.join(missing)} in {where}: "
                                f"{'those effects are' if len(missing) > 1 else 'that effect is'} off."
                                if missing else "")
        self.model_note.setVisible(bool(missing))
        rows = [f"<b>{task}</b>&nbsp; {line}" for task, line in model_lines(registry).items()]
        providers = sorted({m.provider.removesuffix("ExecutionProvider") for m in registry.models.values()})
        rows.append("ONNX Runtime: " + (", ".join(providers) or "no model loaded (plain mirror)"))
        if registry.problems:
            rows.append(f"<span style='color:#d29922'>{len(registry.problems)} unusable file(s): see the tooltip</span>")
        self.models.setText("<br>".join(rows))
        self.models.setToolTip("\n".join(str(p) for p in registry.problems))

    def set_folder(self, folder: str) -> None:
        metrics = self.folder.fontMetrics()
        self.folder.setText(metrics.elidedText(folder, Qt.TextElideMode.ElideMiddle, WIDTH - 120))
        self.folder.setToolTip(folder)

    def set_stats(self, fps: float, means: dict[str, float], dropped: int) -> None:
        self.fps.setText(f"{fps:.1f} <span style='font-size:12px;color:#8b949e'>fps</span>")
        self.fps.setToolTip(f"{dropped} camera frames skipped while the model was busy")
        for key, label in self.timings.items():
            label.setText(f"{means[key]:.1f} ms")


def model_lines(registry: Registry) -> dict[str, str]:
    """Per effect's task, the model the app runs for it (an edit model may serve gender, age or both)."""
    models = {task: registry.serving(task) for task in ("gender", "age", "attributes")}
    return {task: model_line(m.card) for task, m in models.items() if m is not None}


def model_line(card) -> str:
    """What tells one model of a task from another: its name when it is not just the task's,
    its precision and crop size."""
    precision = "int8" if "int8" in str(card.data.get("format", "")) else "fp32"
    parts = [card.name] if card.name != card.task else []
    return ", ".join([*parts, precision, f"{card.align.size} px"])


def _caption(text: str, name: str = "caption") -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    return label


def _row(*widgets: QWidget, spacing: int = 6, stretch_between: bool = False) -> QHBoxLayout:
    row = QHBoxLayout()
    row.setSpacing(spacing)
    for i, w in enumerate(widgets):
        if stretch_between and i:
            row.addStretch()
        row.addWidget(w)
    return row
