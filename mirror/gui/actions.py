"""Every command of the app as a QAction with its keyboard shortcut.

The menus, the side panel's buttons and the shortcuts all use these, so a key and its button can
never disagree. The window owns them (they keep working in fullscreen, where menus and panel hide).
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QWidget

# name: (menu text, shortcuts, checkable, what it does); SHORT: the text on the panel's button,
# where the menu's is too long.
SHORT = {"open_file": "Open file…", "reopen": "Reopen", "folder": "Change…", "landmarks": "Landmarks",
         "split": "Before/after"}
SPECS = {
    "gender_off": ("Off", ["N"], True, "No gender change"),
    "gender_female": ("Female", ["F"], True, "Turn faces female"),
    "gender_male": ("Male", ["M"], True, "Turn faces male"),
    "gender_swap": ("Swap", ["W"], True, "Each face to the other gender"),
    "gender_next": ("Next gender effect", ["G"], False, "Cycle off, female, male, swap"),
    "younger": ("Younger", ["Y"], False, "Age slider a step younger"),
    "older": ("Older", ["O"], False, "Age slider a step older"),
    "age_reset": ("Unchanged age", ["A"], False, "Age slider back to the centre"),
    "weaker": ("Less intense", ["-"], False, "Intensity down a step"),
    "stronger": ("More intense", ["=", "+"], False, "Intensity up a step"),
    "mirrored": ("Mirror", ["H"], True, "Show the camera mirrored, like a mirror"),
    "split": ("Before / after", ["B"], True, "Split view: the original left of the divider"),
    "divider_left": ("Divider left", [","], False, "Move the before/after divider left"),
    "divider_right": ("Divider right", ["."], False, "Move the before/after divider right"),
    "landmarks": ("Landmarks && mask", ["L"], True, "Draw the face landmarks and the blend mask"),
    "overlays": ("Overlays", ["V"], True, "Landmark-anchored overlays"),
    "snapshot": ("Snapshot", ["S"], False, "Save the view as a PNG"),
    "record": ("Record", ["R"], True, "Record the view to a video"),
    "virtual_camera": ("Virtual camera", ["K"], True, "Send the view to a virtual webcam for Zoom, Meet, Teams or OBS"),
    "fullscreen": ("Fullscreen", ["F11", "Ctrl+F"], True, "Only the live view, on the whole screen"),
    "leave_fullscreen": ("Leave fullscreen", ["Esc"], False, "Back to the window"),
    "open_file": ("Open video or image…", ["Ctrl+O"], False, "Play a video file or show an image"),
    "next_source": ("Next source", ["C"], False, "Switch to the next camera or the sample clip"),
    "reopen": ("Reopen source", ["Ctrl+R"], False, "Open the source again (a camera plugged back in, a video from the start)"),
    "folder": ("Save to folder…", ["Ctrl+Shift+S"], False, "Where snapshots and recordings go"),
    "help": ("Keyboard shortcuts", ["F1", "?"], False, "List the shortcuts"),
    "quit": ("Quit", ["Ctrl+Q"], False, "Close the app"),
}
GENDER_ACTIONS = {None: "gender_off", "female": "gender_female", "male": "gender_male", "swap": "gender_swap"}


class Actions:
    """`actions.snapshot`, `actions.mirrored`, … : one QAction per entry of SPECS."""

    def __init__(self, owner: QWidget):
        self.all: dict[str, QAction] = {}
        for name, (text, keys, checkable, tip) in SPECS.items():
            action = QAction(text, owner)
            action.setShortcuts([QKeySequence(k) for k in keys])
            action.setCheckable(checkable)
            action.setIconText(SHORT.get(name, text.replace("&&", "&")))
            action.setToolTip(f"{tip}  ({keys[0]})")
            action.setStatusTip(tip)
            owner.addAction(action)
            self.all[name] = action
            setattr(self, name, action)
        self.genders = QActionGroup(owner)
        for name in GENDER_ACTIONS.values():
            self.genders.addAction(self.all[name])

    def gender(self, value: str | None) -> QAction:
        return self.all[GENDER_ACTIONS[value]]

    def table(self) -> list[tuple[str, str]]:
        """(keys, what) rows for the help."""
        return [(", ".join(keys), tip) for _, keys, _, tip in SPECS.values()]
