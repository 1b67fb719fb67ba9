"""The live view: the frame scaled to fit, the before/after divider, and the notes drawn over it
(no face, recording, a passing toast, and a banner with a button when the source stopped)."""

from __future__ import annotations

import time

import numpy as np
from typing import Callable

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget, QFrame

from .worker import compose

BACKGROUND = QColor("#0d0f12")
ACCENT = QColor("#4cc2ff")
GRAB = 12  # px either side of the divider that pick it up


def to_qimage(bgr: np.ndarray) -> QImage:
    """A QImage over the array's memory: keep the array alive while the image is used."""
    h, w = bgr.shape[:2]
    return QImage(bgr.data, w, h, bgr.strides[0], QImage.Format.Format_BGR888)


class Banner(QFrame):
    """A message over the view with one button (e.g. "Reopen")."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("banner")
        self.text = QLabel(wordWrap=True)
        self.text.setObjectName("bannerText")
        self.button = QPushButton()
        self.button.setObjectName("bannerButton")
        self.button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        row = QHBoxLayout()
        row.addStretch()
        row.addWidget(self.button)
        row.addStretch()
        box = QVBoxLayout(self)
        box.setContentsMargins(22, 18, 22, 18)
        box.setSpacing(12)
        box.addWidget(self.text)
        box.addLayout(row)
        self.hide()


class LiveView(QWidget):
    """`on_divider` is called with the divider's new place when the user drags it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("liveView")
        self.setMinimumSize(320, 240)
        self.setMouseTracking(True)
        self.before: np.ndarray | None = None
        self.after: np.ndarray | None = None
        self.split, self.divider = False, 0.5
        self.dragging = False
        self.placeholder = "Starting…"
        self.hint: str | None = None
        self.recording_since: float | None = None
        self.toast_text: str | None = None
        self.toast_timer = QTimer(self, singleShot=True, timeout=self._end_toast)
        self.banner = Banner(self)
        self.on_divider: Callable[[float], None] | None = None

    # -- what the window tells it

    def show_frame(self, before: np.ndarray, after: np.ndarray) -> None:
        self.before, self.after = before, after
        self.update()

    def set_split(self, on: bool, divider: float) -> None:
        self.split, self.divider = on, divider
        self.update()

    def set_hint(self, text: str | None) -> None:
        if text != self.hint:
            self.hint = text
            self.update()

    def set_recording(self, on: bool) -> None:
        self.recording_since = time.monotonic() if on else None
        self.update()

    def toast(self, text: str, ms: int = 2500) -> None:
        self.toast_text = text
        self.toast_timer.start(ms)
        self.update()

    def show_banner(self, text: str, button: str | None = None) -> None:
        self.banner.text.setText(text)
        self.banner.button.setText(button or "")
        self.banner.button.setVisible(bool(button))
        self.banner.show()
        self._place_banner()

    def hide_banner(self) -> None:
        self.banner.hide()

    def shown(self) -> np.ndarray | None:
        """The frame as the view shows it (the split applied), at the frame's own size."""
        if self.after is None:
            return None
        return compose(self.before, self.after, self.split, self.divider)

    # -- painting

    def image_rect(self) -> QRectF:
        """Where the frame is drawn: as large as fits, centred, its aspect kept."""
        if self.after is None:
            return QRectF(self.rect())
        h, w = self.after.shape[:2]
        scale = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * scale) / 2, (self.height() - h * scale) / 2, w * scale, h * scale)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.fillRect(self.rect(), BACKGROUND)
        frame = self.shown()
        if frame is None:
            p.setPen(QColor("#7d8590"))
            p.setFont(_font(15))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        target = self.image_rect()
        p.drawImage(target, to_qimage(np.ascontiguousarray(frame)))
        if self.split:
            self._paint_divider(p, target)
        if self.recording_since is not None:
            self._paint_recording(p, target)
        if self.hint:
            _pill(p, self.hint, QPointF(target.center().x(), target.bottom() - 34), 13)
        if self.toast_text:
            _pill(p, self.toast_text, QPointF(target.center().x(), target.top() + 34), 13)

    def _paint_divider(self, p: QPainter, target: QRectF) -> None:
        x = target.left() + self.divider * target.width()
        p.setPen(QPen(QColor(255, 255, 255, 230), 2))
        p.drawLine(QPointF(x, target.top()), QPointF(x, target.bottom()))
        centre = QPointF(x, target.center().y())
        p.setBrush(QColor(255, 255, 255, 235))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(centre, 15, 15)
        p.setBrush(QColor("#20252c"))
        for side in (-1, 1):  # two small arrowheads: "drag me sideways"
            tip = QPointF(x + side * 9, centre.y())
            path = QPainterPath(tip)
            path.lineTo(x + side * 3, centre.y() - 5)
            path.lineTo(x + side * 3, centre.y() + 5)
            path.closeSubpath()
            p.drawPath(path)
        _pill(p, "BEFORE", QPointF(target.left() + 48, target.top() + 22), 10)
        _pill(p, "AFTER", QPointF(target.right() - 44, target.top() + 22), 10)

    def _paint_recording(self, p: QPainter, target: QRectF) -> None:
        seconds = int(time.monotonic() - self.recording_since)
        text = f"REC  {seconds // 60:02d}:{seconds % 60:02d}"
        where = QPointF(target.left() + 64, target.bottom() - 26 if self.split else target.top() + 22)
        rect = _pill(p, text, where, 11, left_pad=18)
        p.setBrush(QColor("#ff3b30"))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawEllipse(QPointF(rect.left() + 12, rect.center().y()), 5, 5)

    # -- the divider under the mouse

    def _near_divider(self, x: float) -> bool:
        target = self.image_rect()
        return self.split and abs(x - (target.left() + self.divider * target.width())) <= GRAB

    def mousePressEvent(self, event) -> None:
        if self.split and event.button() == Qt.MouseButton.LeftButton:
            self.dragging = True
            self._drag_to(event.position().x())

    def mouseMoveEvent(self, event) -> None:
        x = event.position().x()
        if self.dragging:
            self._drag_to(x)
        near = self.dragging or self._near_divider(x)
        self.setCursor(Qt.CursorShape.SplitHCursor if near else Qt.CursorShape.ArrowCursor)

    def mouseReleaseEvent(self, event) -> None:
        self.dragging = False

    def _drag_to(self, x: float) -> None:
        target = self.image_rect()
        self.divider = min(max((x - target.left()) / max(target.width(), 1.0), 0.0), 1.0)
        self.update()
        if self.on_divider:
            self.on_divider(self.divider)

    def resizeEvent(self, event) -> None:
        self._place_banner()

    def _place_banner(self) -> None:
        width = min(460, self.width() - 40)
        self.banner.setFixedWidth(width)
        self.banner.adjustSize()
        self.banner.move((self.width() - width) // 2, (self.height() - self.banner.height()) // 2)

    def _end_toast(self) -> None:
        self.toast_text = None
        self.update()


def _font(size: int, bold: bool = False) -> QFont:
    font = QFont()
    font.setPixelSize(size)
    font.setBold(bold)
    return font


def _pill(p: QPainter, text: str, centre: QPointF, size: int, left_pad: int = 0) -> QRectF:
    """Text in a dark rounded box centred on `centre`; returns the box."""
    p.setFont(_font(size, bold=True))
    metrics = p.fontMetrics()
    w, h = metrics.horizontalAdvance(text) + 24 + left_pad, metrics.height() + 10
    rect = QRectF(centre.x() - w / 2, centre.y() - h / 2, w, h)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(10, 12, 15, 175))
    p.drawRoundedRect(rect, h / 2, h / 2)
    p.setPen(QColor("#f0f3f6"))
    p.drawText(rect.adjusted(left_pad, 0, 0, 0), Qt.AlignmentFlag.AlignCenter, text)
    return rect
