"""The ``mailassist`` application: config, logging, CLI, and the wiring of gateway, queue, linker and web."""
