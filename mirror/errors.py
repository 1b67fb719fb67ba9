"""The one error type that the command line turns into a one-line message."""


class MirrorError(Exception):
    """A problem with the user's input or environment, worth one clear line, not a traceback."""
