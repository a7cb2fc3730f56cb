"""Forwards written inline by mail clients: subject prefixes, header labels per language, and the parser."""

from __future__ import annotations

from linker.forwards.html import html_to_text
from linker.forwards.inline import find_inline_forward
from linker.forwards.subject import has_forward_prefix, has_reply_prefix, strip_forward_prefix

__all__ = ["find_inline_forward", "has_forward_prefix", "has_reply_prefix", "html_to_text", "strip_forward_prefix"]
