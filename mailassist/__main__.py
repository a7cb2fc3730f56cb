from __future__ import annotations

from mailassist.cli import main

main()
