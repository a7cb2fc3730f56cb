"""Forward and reply subject prefixes, per language, repeated and mixed."""

from __future__ import annotations

import pytest

from linker.forwards.subject import has_forward_prefix, has_reply_prefix, strip_forward_prefix, strip_prefixes


@pytest.mark.parametrize(
    ("subject", "stripped"),
    [
        ("Fwd: Offer", "Offer"),
        ("FW: Offer", "Offer"),
        ("Fw: Offer", "Offer"),
        ("fwd:Offer", "Offer"),
        ("WG: Angebot", "Angebot"),  # de
        ("PD: Oferta", "Oferta"),  # pl, Outlook
        ("Przekaż dalej: Oferta", "Oferta"),
        ("TR : Devis", "Devis"),  # fr puts a space before the colon
        ("RV: Presupuesto", "Presupuesto"),  # es
        ("I: Preventivo", "Preventivo"),  # it
        ("ENC: Cotação", "Cotação"),  # pt-br
        ("Doorst: Offerte", "Offerte"),  # nl
        ("VB: Offert", "Offert"),  # sv
        ("VS: Tilbud", "Tilbud"),  # da
        ("Videresend: Tilbud", "Tilbud"),  # no
        ("VL: Tarjous", "Tarjous"),  # fi
        ("Přeposlat: Objednávka", "Objednávka"),  # cs
        ("Redir.: Ofertă", "Ofertă"),  # ro, Outlook on the web
        ("Továbbítás: Ajánlat", "Ajánlat"),  # hu
        ("TOV: Ajánlat", "Ajánlat"),
        ("İLT: Teklif", "Teklif"),  # tr
        ("Пересл.: Предложение", "Предложение"),  # ru
        ("転送: 見積", "見積"),  # ja
        ("转发：报价", "报价"),  # zh, full-width colon
        ("Fwd: FW: WG: Offer", "Offer"),
        ("Fwd[2]: Offer", "Offer"),
        ("[Fwd: Offer]", "Offer"),
        ("Fwd: Re: Offer", "Re: Offer"),  # the original was a reply: keep that
        ("Fwd: Re: FW: Offer", "Re: FW: Offer"),
        ("Re: Offer", "Re: Offer"),
        ("[EXTERNAL] FW: Offer", "[EXTERNAL] Offer"),
        ("Offer: the details", "Offer: the details"),
        ("Reenviar pedido", "Reenviar pedido"),  # a word, not a prefix
        ("", ""),
    ],
)
def test_strip_forward_prefix(subject: str, stripped: str) -> None:
    assert strip_forward_prefix(subject) == stripped


@pytest.mark.parametrize(
    "subject",
    ["Fwd: x", "FW: RE: x", "WG: AW: x", "PD: Odp: x", "TR: x", "[Fwd: x]", "[EXT] Fwd: x", "VS: x", "I: x"],
)
def test_forward_prefixes(subject: str) -> None:
    assert has_forward_prefix(subject)
    assert not has_reply_prefix(subject)


@pytest.mark.parametrize(
    "subject",
    [
        "Re: x",
        "RE: Fwd: x",
        "AW: WG: x",  # de
        "Odp: x",  # pl, cs
        "R: x",  # it
        "SV: x",  # sv, da, no
        "Vá: x",  # hu
        "YNT: x",  # tr
        "Отв: x",  # ru
        "RES: x",  # pt-br
        "Antw: x",  # nl
        "Re[3]: x",
        "RE : x",
        "返信: x",
        "[EXTERNAL] RE: x",
    ],
)
def test_reply_prefixes(subject: str) -> None:
    assert has_reply_prefix(subject)
    assert not has_forward_prefix(subject)


@pytest.mark.parametrize("subject", ["Offer", "", None, "Fwdx: y", "Report: Q1", "[Ticket 12] Offer"])
def test_no_prefix(subject: str | None) -> None:
    assert not has_forward_prefix(subject)
    assert not has_reply_prefix(subject)


def test_strip_prefixes_removes_replies_too() -> None:
    assert strip_prefixes("Fwd: Re: AW: [Fwd: Offer]") == "Offer"
