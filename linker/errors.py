"""The linker's errors: one root, ``LinkerError``, that the actor turns into a ``failed`` message instead of a retry."""

from __future__ import annotations


class LinkerError(Exception):
    """Something about the message itself stops the linker; retrying cannot help."""


class UnreadableMessageError(LinkerError):
    """Neither flanker nor the stdlib ``email`` package could read the message; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAnEmailError(LinkerError):
    """A file given to ``mailassist explain`` is not an email (an image, an empty file, text with no header)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"not an email: {reason}")
        self.reason = reason
