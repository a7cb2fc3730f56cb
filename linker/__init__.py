"""The linker: a pure pipeline that works out who a message concerns. Only ``linker.tasks`` does I/O."""
