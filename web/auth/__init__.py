"""Viewer access, in four parts: ``passwords`` (argon2 passwords and API tokens, also used by the CLI),
``throttle`` (login backoff), ``middleware`` (signed sessions, the gate every private path passes, and who the
request's user is) and ``routes`` (login, logout and ``/api/me``).

Nothing is imported here, so that ``mailassist user set-password`` loads the password code without the web stack.
"""
