"""The desktop app: a live view of the transformed camera, its controls and readouts.

`app.main(argv)` starts it. Qt is imported by the modules here, never by `mirror` itself, so the
headless runtime does not need a display library.
"""
