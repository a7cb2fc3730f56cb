"""The read-only web viewer (Starlette). It imports ``store`` only."""
