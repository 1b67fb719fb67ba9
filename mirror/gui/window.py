"""The main window: wires the live view, the side panel and the actions to the worker and keeps
the user's choices (`Prefs`) in step with them."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QMessageBox, QScrollArea, QSplitter

from ..errors import MirrorError
from ..models import Registry
from ..output import write_image
from ..pipeline import Overlay
from ..source import IMAGE_EXTS
from . import marks, settings, sources
from .actions import GENDER_ACTIONS, Actions
from .files import new_file
from .panel import STEPS, Panel
from .sources import Choice
from .stats import Meter
from .style import STYLE
from .view import LiveView
from .worker import Shown, Worker

AGE_STEP, INTENSITY_STEP, DIVIDER_STEP = 0.1, 0.1, 0.05
NO_FACE_FRAMES = 8  # frames without a face before the hint shows: a blink of the tracker is no news
OPEN_FILE = "Video or image file…"
VIDEO_FILTER = "Videos and images (*.mp4 *.avi *.mkv *.mov *.webm *.m4v {});;All files (*)".format(
    " ".join(f"*{e}" for e in sorted(IMAGE_EXTS)))


def find_overlays() -> Callable[[], Overlay] | None:
    """What builds the landmark-anchored overlays (mirror.overlay.Overlays), when that module is
    there: it comes separately from the app."""
    try:
        from ..overlay import Overlays
    except ImportError:
        return None
    return Overlays


class Window(QMainWindow):
    """`on_frame` callbacks get the number of frames shown so far, `on_ended` the message of a
    source that stopped (plain callbacks: see worker.Wake on PySide6's signals)."""

    def __init__(self, registry: Registry, store: QSettings, source: Choice | None = None,
                 cameras: list[Choice] | None = None):
        super().__init__()
        self.registry, self.store = registry, store
        self.prefs = settings.load(store)
        self.cameras = sources.cameras() if cameras is None else cameras
        self.meter = Meter()
        self.frames = 0
        self.last: Shown | None = None  # the frame on show
        self.faceless = 0
        self.on_frame: list[Callable[[int], None]] = []
        self.on_ended: list[Callable[[str], None]] = []
        self.choice: Choice | None = None
        self.last_file: Choice | None = None

        self.setWindowTitle("mirror")
        self.setStyleSheet(STYLE)
        self.actions = Actions(self)
        self.view = LiveView()
        self.panel = Panel(self.actions)
        scroll = QScrollArea()
        scroll.setWidget(self.panel)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(self.panel.width() + 10)
        self.side = scroll
        splitter = QSplitter()
        splitter.addWidget(self.view)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 1)
        splitter.setChildrenCollapsible(False)
        splitter.setHandleWidth(0)
        self.setCentralWidget(splitter)
        self._menus()
        self.statusBar().showMessage("Starting…")
        keys = QLabel("F1: keyboard shortcuts")
        keys.setObjectName("note")
        self.statusBar().addPermanentWidget(keys)

        overlays = find_overlays()
        self.actions.overlays.setEnabled(overlays is not None)
        if overlays is None:
            self.actions.overlays.setToolTip("No overlays in this version (mirror/overlay/)")
        self._limit_to_models()
        self._show_prefs()
        self._connect()
        self.worker = Worker(registry, self.prefs, self._on_news, overlays, marks.draw)

        geometry = store.value("geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 800)
        self._fill_sources()
        self.open_source(source or sources.initial(self.prefs.source, self.cameras))

    # -- building

    def _menus(self) -> None:
        a = self.actions
        bar = self.menuBar()
        for title, items in (
            ("&File", [a.open_file, a.next_source, a.reopen, None, a.snapshot, a.record, a.folder, None, a.quit]),
            ("&Effect", [a.gender_off, a.gender_female, a.gender_male, a.gender_swap, a.gender_next, None,
                         a.younger, a.older, a.age_reset, None, a.weaker, a.stronger]),
            ("&View", [a.mirrored, a.split, a.divider_left, a.divider_right, a.landmarks, a.overlays, None,
                       a.fullscreen]),
            ("&Help", [a.help]),
        ):
            menu = bar.addMenu(title)
            for item in items:
                menu.addSeparator() if item is None else menu.addAction(item)

    def _limit_to_models(self) -> None:
        """Effects without their model are greyed out, so the app runs as a plain mirror until
        models are exported."""
        get = self.registry.serving  # an edit model serves gender and age
        self.can = {"female": get("gender") is not None, "male": get("gender") is not None,
                    "swap": get("gender") is not None and get("attributes") is not None,
                    "age": get("age") is not None}
        for gender in ("female", "male", "swap"):
            self.actions.gender(gender).setEnabled(self.can[gender])
        self.actions.gender_next.setEnabled(self.can["female"])
        for action in (self.actions.younger, self.actions.older, self.actions.age_reset):
            action.setEnabled(self.can["age"])
        self.panel.age.setEnabled(self.can["age"])
        any_model = self.can["female"] or self.can["age"]
        for widget in (self.panel.intensity, self.actions.weaker, self.actions.stronger):
            widget.setEnabled(any_model)
        if self.prefs.gender and not self.can[self.prefs.gender]:
            self.prefs.gender = None
        if not self.can["age"]:
            self.prefs.age = 0.0
        self.panel.set_models(self.registry)

    def _show_prefs(self) -> None:
        p = self.prefs
        self.actions.gender(p.gender).setChecked(True)
        self.panel.set_age(p.age)
        self.panel.set_intensity(p.intensity)
        for name in ("mirrored", "split", "landmarks", "overlays"):
            self.actions.all[name].setChecked(getattr(p, name))
        self.view.set_split(p.split, p.divider)
        self.panel.set_folder(self._folder())

    def _connect(self) -> None:
        a = self.actions
        for gender, name in GENDER_ACTIONS.items():
            a.all[name].triggered.connect(lambda _=False, g=gender: self.set_gender(g))
        a.gender_next.triggered.connect(self._next_gender)
        a.younger.triggered.connect(lambda: self.set_age(self.prefs.age - AGE_STEP))
        a.older.triggered.connect(lambda: self.set_age(self.prefs.age + AGE_STEP))
        a.age_reset.triggered.connect(lambda: self.set_age(0.0))
        a.weaker.triggered.connect(lambda: self.set_intensity(self.prefs.intensity - INTENSITY_STEP))
        a.stronger.triggered.connect(lambda: self.set_intensity(self.prefs.intensity + INTENSITY_STEP))
        self.panel.age.valueChanged.connect(lambda v: self.set_age(v / STEPS))
        self.panel.intensity.valueChanged.connect(lambda v: self.set_intensity(v / STEPS))
        for name in ("mirrored", "split", "landmarks", "overlays"):
            a.all[name].toggled.connect(lambda on, n=name: self._set(**{n: on}))
        a.divider_left.triggered.connect(lambda: self.set_divider(self.prefs.divider - DIVIDER_STEP))
        a.divider_right.triggered.connect(lambda: self.set_divider(self.prefs.divider + DIVIDER_STEP))
        self.view.on_divider = self.set_divider
        a.snapshot.triggered.connect(self.snapshot)
        a.record.toggled.connect(self.record)
        a.virtual_camera.toggled.connect(self.set_camera)
        a.fullscreen.toggled.connect(self.set_fullscreen)
        a.leave_fullscreen.triggered.connect(lambda: a.fullscreen.setChecked(False))
        a.open_file.triggered.connect(self.choose_file)
        a.next_source.triggered.connect(self._next_source)
        a.reopen.triggered.connect(self.reopen)
        a.folder.triggered.connect(self.choose_folder)
        a.help.triggered.connect(self.show_shortcuts)
        a.quit.triggered.connect(self.close)
        self.panel.source.activated.connect(self._on_source_picked)
        self.view.banner.button.clicked.connect(self.reopen)

    # -- the effect and the view

    def _set(self, **changes) -> None:
        self.prefs = replace(self.prefs, **changes).clamp()
        self.worker.set_prefs(self.prefs)
        self.view.set_split(self.prefs.split, self.prefs.divider)
        if not self.side.isVisible():  # in fullscreen the panel is hidden: say what a key did
            self.view.toast(_describe(changes))

    def set_gender(self, gender: str | None) -> None:
        if gender is not None and not self.can[gender]:
            return
        if gender == "swap" == self.prefs.gender:  # asked again: each face's direction afresh
            self.worker.revote.set()
            self.statusBar().showMessage("Swap: deciding each face's direction again", 5000)
        self.actions.gender(gender).setChecked(True)
        self._set(gender=gender)

    def _next_gender(self) -> None:
        order = [g for g in GENDER_ACTIONS if g is None or self.can[g]]
        self.set_gender(order[(order.index(self.prefs.gender) + 1) % len(order)])

    def set_age(self, age: float) -> None:
        if self.can["age"]:
            self._set(age=round(age, 2))
            self.panel.set_age(self.prefs.age)

    def set_intensity(self, intensity: float) -> None:
        self._set(intensity=round(intensity, 2))
        self.panel.set_intensity(self.prefs.intensity)

    def set_divider(self, divider: float) -> None:
        if not self.prefs.split:
            self.actions.split.setChecked(True)
        self.prefs = replace(self.prefs, divider=divider).clamp()
        self.worker.set_prefs(self.prefs)
        self.view.set_split(True, self.prefs.divider)

    def set_fullscreen(self, on: bool) -> None:
        for widget in (self.side, self.menuBar(), self.statusBar()):
            widget.setVisible(not on)
        if on:
            self.showFullScreen()
            self.view.toast("Fullscreen: Esc to leave, F1 for the keys", 4000)
        else:
            self.showNormal()

    # -- sources

    def _fill_sources(self) -> None:
        combo = self.panel.source
        combo.blockSignals(True)
        combo.clear()
        self.listed = [*self.cameras, sources.sample()]
        if self.last_file is not None:
            self.listed.append(self.last_file)
        for choice in self.listed:
            combo.addItem(choice.label)
        combo.addItem(OPEN_FILE)
        if self.choice in self.listed:
            combo.setCurrentIndex(self.listed.index(self.choice))
        combo.blockSignals(False)

    def open_source(self, choice: Choice) -> None:
        if self.actions.record.isChecked():
            self.actions.record.setChecked(False)  # a new source may have another frame size
        if not choice.camera and choice != sources.sample():
            self.last_file = choice
        self.choice = choice
        # Absolute: a path relative to today's folder would open another file, or none, next time.
        self.prefs.source = choice.spec if choice.camera else str(Path(choice.spec).resolve())
        self._fill_sources()
        self.view.hide_banner()
        self.view.placeholder = f"Opening {choice.label}…"
        self.meter.reset()
        self.setWindowTitle(f"mirror — {choice.label}")
        self.statusBar().showMessage(f"Source: {choice.label}")
        self.worker.open(choice)

    def reopen(self) -> None:
        if self.choice is not None:
            self.open_source(self.choice)

    def _on_source_picked(self, index: int) -> None:
        if index < len(self.listed):
            self.open_source(self.listed[index])
        else:
            self.choose_file()

    def _next_source(self) -> None:
        at = self.listed.index(self.choice) if self.choice in self.listed else -1
        self.open_source(self.listed[(at + 1) % len(self.listed)])

    def choose_file(self) -> None:
        start = str(Path(self.last_file.spec).parent) if self.last_file else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Open a video or an image", start, VIDEO_FILTER)
        if path:
            self.open_source(sources.from_spec(path))
        else:
            self._fill_sources()  # put the picker back on the current source

    # -- frames from the worker

    def _on_news(self) -> None:
        shown, news = self.worker.take()
        if shown is not None:
            self._show(shown)
        for item in news:
            if item.kind == "ended":
                self._on_ended(item.message)
            elif item.kind == "resumed":
                self.view.hide_banner()
                self.statusBar().showMessage(item.message, 10000)
            elif item.kind == "recording":
                self._on_recording_failed(item.message)
            elif item.kind == "camera":
                self._uncheck(self.actions.virtual_camera)
                self.error(item.message)
            else:
                self.error(item.message)

    def _show(self, shown: Shown) -> None:
        self.frames += 1
        self.last = shown
        self.view.show_frame(shown.before, shown.after)
        self.meter.add(time.perf_counter(), shown.timings, shown.latency)
        self.faceless = 0 if shown.faces else self.faceless + 1
        self.view.set_hint("No face in view: look into the camera" if self.faceless >= NO_FACE_FRAMES else None)
        if self.frames % 5 == 1:  # readouts change slowly; redrawing them each frame only costs
            self.panel.set_stats(self.meter.fps, self.meter.means(), self.worker.dropped)
        for callback in self.on_frame:
            callback(self.frames)

    def _on_ended(self, message: str) -> None:
        message = message[:1].upper() + message[1:]  # MirrorErrors start in lower case
        self.view.placeholder = ""
        self.view.show_banner(message, "Reopen  (Ctrl+R)")
        self.statusBar().showMessage(message)
        for callback in self.on_ended:
            callback(message)

    def error(self, message: str) -> None:
        """A problem that does not stop the live view: said over the view and in the status bar."""
        self.view.toast(message, 6000)
        self.statusBar().showMessage(message, 10000)

    # -- snapshot and recording

    def _folder(self) -> str:
        return self.prefs.folder or settings.default_folder()

    def snapshot(self) -> Path | None:
        image = self.view.shown()
        if image is None:
            self.error("Nothing to save yet.")
            return None
        try:
            path = new_file(self._folder(), ".png")
            write_image(path, image)
        except MirrorError as e:
            self.error(f"Cannot save the snapshot: {e} (Ctrl+Shift+S to choose a folder).")
            return None
        self.view.toast(f"Saved {path.name}")
        self.statusBar().showMessage(f"Snapshot saved to {path}", 10000)
        return path

    def record(self, on: bool) -> None:
        if on:
            # The video plays at the rate frames are made now, so it lasts as long as it took.
            fps = min(max(round(self.meter.fps) or 25, 5), 60)
            try:
                path = new_file(self._folder(), ".mp4")
                self.worker.recorder.start(path, fps)
            except MirrorError as e:
                self.error(f"Cannot record: {e} (Ctrl+Shift+S to choose a folder).")
                self.actions.record.setChecked(False)
                return
            self.statusBar().showMessage(f"Recording to {path}")
        else:
            try:
                done = self.worker.recorder.stop()
            except MirrorError as e:
                done = None
                self.error(f"Recording lost: {e}")
            if done:
                self.view.toast(f"Saved {done[0].name} ({done[1]} frames)")
                self.statusBar().showMessage(f"Recording saved to {done[0]} ({done[1]} frames)", 10000)
        self.view.set_recording(on)

    def _on_recording_failed(self, message: str) -> None:
        self._uncheck(self.actions.record)
        self.view.set_recording(False)
        self.error(message)

    @staticmethod
    def _uncheck(action) -> None:
        """Show a toggle as off without acting on it (what it did already stopped)."""
        action.blockSignals(True)
        action.setChecked(False)
        action.blockSignals(False)

    def set_camera(self, on: bool) -> None:
        self.worker.set_camera(on)
        self.statusBar().showMessage("Virtual camera on: pick it in the video call's camera list" if on
                                     else "Virtual camera off", 10000)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save snapshots and recordings to", self._folder())
        if folder:
            self.set_folder(folder)

    def set_folder(self, folder: str) -> None:
        self.prefs.folder = folder
        self.panel.set_folder(folder)

    # -- the rest

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{keys}</b></td><td>&nbsp;&nbsp;{what}</td></tr>" for keys, what in self.actions.table())
        box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", f"<table>{rows}</table>", parent=self)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.show()

    def closeEvent(self, event) -> None:
        if self.actions.record.isChecked():
            self.actions.record.setChecked(False)
        self.worker.close()
        if self.isFullScreen():
            self.showNormal()
        settings.save(self.store, self.prefs)
        self.store.setValue("geometry", self.saveGeometry())
        self.store.sync()
        super().closeEvent(event)


def _describe(changes: dict) -> str:
    """A short toast for a change made by key while the panel is hidden."""
    (key, value), = changes.items()
    if key == "gender":
        return f"Gender: {value or 'off'}"
    if key == "age":
        return "Age: unchanged" if value == 0 else f"Age: {value:+.1f}"
    if key == "intensity":
        return f"Intensity: {round(value * 100)} %"
    names = {"mirrored": "Mirror", "split": "Before / after", "landmarks": "Landmarks", "overlays": "Overlays"}
    return f"{names.get(key, key)}: {'on' if value else 'off'}"
