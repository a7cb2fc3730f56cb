"""Planning a receipt of a redirect with the linker's test settings, as the automated and internal mail tests do."""

from __future__ import annotations

from linker.model import LinkPlan, ParsedMessage
from linker.pipeline import Envelope, plan_message
from tests.linker.support import ASSISTANT, FIXTURES, SETTINGS, directory

AUTOMATED = FIXTURES / "automated"
#: As a receipt of a redirect: the envelope names nobody, the submitter is read from To/Delivered-To.
REDIRECTED = Envelope("", (ASSISTANT,))


def plan(message: ParsedMessage, settings: object = SETTINGS) -> LinkPlan:
    assert isinstance(settings, type(SETTINGS))
    return plan_message(message, envelope=REDIRECTED, settings=settings, directory=directory())
