"""The app's look: a dark theme, so that the picture stands out and the panel recedes."""

STYLE = """
QMainWindow, QDialog, QMessageBox, QWidget#panel, QScrollArea, QScrollArea > QWidget > QWidget { background: #161a1f; }
QWidget { color: #d8dee4; font-size: 13px; }
QMenuBar { background: #161a1f; color: #c9d1d9; border-bottom: 1px solid #262c33; }
QMenuBar::item:selected, QMenu::item:selected { background: #25303b; }
QMenu { background: #1c2128; border: 1px solid #30363d; padding: 4px; }
QMenu::item { padding: 5px 24px 5px 14px; }
QMenu::item:disabled { color: #5c6570; }
QStatusBar { background: #12151a; color: #8b949e; border-top: 1px solid #262c33; }
QStatusBar::item { border: none; }
QStatusBar QLabel#note { padding-right: 8px; }
QScrollArea { border: none; border-left: 1px solid #262c33; }
QLabel#heading { color: #7d8590; font-size: 11px; font-weight: bold; letter-spacing: 1.5px; padding-top: 8px; }
QLabel#value { color: #4cc2ff; font-weight: bold; }
QLabel#warning { color: #d29922; font-size: 12px; }
QLabel#caption { color: #c9d1d9; }
QLabel#scale, QLabel#stage { color: #7d8590; font-size: 12px; }
QLabel#note { color: #7d8590; font-size: 12px; }
QLabel#ms { color: #c9d1d9; font-family: "DejaVu Sans Mono", monospace; font-size: 12px; }
QLabel#fps { color: #f0f3f6; font-size: 26px; font-weight: bold; }
QLabel#models { color: #adbac7; font-size: 12px; }
QComboBox {
    background: #21262d; border: 1px solid #30363d; border-radius: 6px; padding: 6px 10px; min-height: 18px;
}
QComboBox:hover { border-color: #4cc2ff; }
QComboBox QAbstractItemView { background: #1c2128; border: 1px solid #30363d; selection-background-color: #25303b; }
QToolButton {
    background: #21262d; border: 1px solid #30363d; border-radius: 6px; padding: 5px 10px; min-height: 18px;
}
QToolButton:hover { background: #2a313a; border-color: #484f58; }
QToolButton:pressed { background: #30363d; }
QToolButton:checked { background: #1f4b66; border-color: #4cc2ff; color: #ffffff; }
QToolButton:disabled { color: #545d68; background: #1a1e24; border-color: #262c33; }
QToolButton#segment, QToolButton#segmentFirst, QToolButton#segmentLast { border-radius: 0; padding: 6px 4px; }
QToolButton#segmentFirst { border-top-left-radius: 6px; border-bottom-left-radius: 6px; }
QToolButton#segmentLast { border-top-right-radius: 6px; border-bottom-right-radius: 6px; }
QToolButton#record:checked { background: #6e1d1a; border-color: #ff5a4f; }
QSlider::groove:horizontal { height: 4px; background: #30363d; border-radius: 2px; }
QSlider::sub-page:horizontal { background: #4cc2ff; border-radius: 2px; }
QSlider::sub-page:horizontal:disabled, QSlider#centred::sub-page:horizontal { background: #30363d; }
QSlider::handle:horizontal {
    background: #f0f3f6; width: 16px; height: 16px; margin: -7px 0; border-radius: 8px;
}
QSlider::handle:horizontal:disabled { background: #545d68; }
QFrame#banner { background: rgba(22, 26, 31, 235); border: 1px solid #3d444d; border-radius: 12px; }
QLabel#bannerText { color: #f0f3f6; font-size: 14px; }
QPushButton {
    background: #21262d; border: 1px solid #30363d; border-radius: 6px; padding: 6px 18px; min-width: 60px;
}
QPushButton:hover { background: #2a313a; border-color: #484f58; }
QPushButton#bannerButton {
    background: #4cc2ff; color: #0d1117; border: none; border-radius: 6px; padding: 7px 22px; font-weight: bold;
}
QPushButton#bannerButton:hover { background: #7dd3ff; }
QScrollBar:vertical { background: transparent; width: 8px; }
QScrollBar::handle:vertical { background: #30363d; border-radius: 4px; min-height: 30px; }
QScrollBar::add-line, QScrollBar::sub-line { height: 0; }
QToolTip { background: #1c2128; color: #d8dee4; border: 1px solid #30363d; padding: 4px; }
"""
