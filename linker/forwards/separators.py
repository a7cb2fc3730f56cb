"""The lines mail clients put above a quoted message: forward separators and reply attributions, per language
(``phrases.toml``).

A *forward* separator ("Forwarded message", "Begin forwarded message:") proves a forward. An *original message*
separator ("-----Original Message-----", Outlook's underscore rule) is written above replies and forwards alike, so
the subject decides. An *attribution* ("On … wrote:") introduces a quoted reply; Outlook for Mac also writes it
above forwards, which only a forward prefix on the subject tells apart.
"""

from __future__ import annotations

from linker.forwards.tables import Table, phrases

#: Phrases between dashes or ending with a colon that only a forward produces.
FORWARD: Table = phrases("forward")
#: Phrases that head a quoted message in replies and forwards alike.
ORIGINAL: Table = phrases("original")
#: Whole lines, with no dashes or colon, that open a forward's header block (The Bat!).
PLAIN_FORWARD: Table = phrases("plain_forward")
#: Verbs that end a reply attribution line, ``On <date>, <name> <address> wrote:`` and its translations.
WROTE: Table = phrases("wrote")
#: Words that join the real sender and the mailbox it wrote for, in an Outlook ``From:`` line
#: (``Jane Doe <jane@x> on behalf of Sales <sales@x>``). The first mailbox is kept.
ON_BEHALF_OF: Table = phrases("on_behalf_of")
