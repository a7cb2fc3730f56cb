"""The inline-forward parser against forwards written the way each mail client and language writes them.

Fixtures live in ``tests/fixtures/forwards/<client>_<lang>.txt``; each case below names the outer subject the
forwarder's client used and what the parser must read back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from linker.forwards.html import html_to_text
from linker.forwards.inline import find_inline_forward
from linker.model import InlineForward, Mailbox

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "forwards"
CET = timezone(timedelta(hours=1))


@dataclass(frozen=True)
class Case:
    """What one fixture must yield. ``to``/``cc`` are ``(name, address)`` pairs; ``body`` is a prefix."""

    subject: str
    sender: tuple[str | None, str | None]
    original_subject: str
    body: str
    to: list[tuple[str | None, str | None]] = field(default_factory=list)
    cc: list[tuple[str | None, str | None]] = field(default_factory=list)
    note: str | None = None
    date: datetime | None = None
    date_text: str | None = None


CASES: dict[str, Case] = {
    "gmail_en.txt": Case(
        subject="Fwd: Request for quotation: 40 pallets",
        sender=("Oliver Grant", "oliver.grant@northwind-traders.co.uk"),
        original_subject="Request for quotation: 40 pallets",
        body="Hello,\n\nwe would like a quotation for 40 pallets to Gdańsk.",
        to=[(None, "sales@example.com"), ("Marta Zielińska", "marta@example.com")],
        cc=[("Hughes, Emma", "emma.hughes@northwind-traders.co.uk")],
        note="Hi Marta,\n\ncan you take this one? They want a quote by Friday.",
        date=datetime(2024, 3, 4, 9, 15),
        date_text="Mon, Mar 4, 2024 at 9:15 AM",
    ),
    "gmail_pl.txt": Case(
        subject="Fwd: Zapytanie ofertowe - transport chłodniczy",
        sender=("Tomasz Wiśniewski", "t.wisniewski@acme-logistics.pl"),
        original_subject="Zapytanie ofertowe - transport chłodniczy",
        body="Dzień dobry,\n\nprosimy o ofertę na transport chłodniczy Poznań - Praga.",
        to=[("Anna Kowalska", "anna.kowalska@example.pl")],
        note="Do obsłużenia, pilne.",
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "gmail_cs.txt": Case(
        subject="Fwd: Objednávka č. 2024/118",
        sender=("Jan Novák", "jan.novak@strojirny-brno.cz"),
        original_subject="Objednávka č. 2024/118",
        body="Dobrý den,\n\nv příloze posílám objednávku.\n\nS pozdravem\nJan Novák",
        to=[(None, "obchod@example.cz")],
        cc=[("Petra Dvořáková", "petra.dvorakova@strojirny-brno.cz")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "gmail_ja.txt": Case(
        subject="Fwd: お見積りの件",
        sender=("山田太郎", "taro.yamada@sakura-shoji.co.jp"),
        original_subject="お見積りの件",
        body="いつもお世話になっております。",
        to=[(None, "sales@example.com")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "gmail_pt_br.txt": Case(
        subject="Fwd: Pedido de cotação",
        sender=("Beatriz Souza", "beatriz.souza@cafe-minas.com.br"),
        original_subject="Pedido de cotação",
        body="Bom dia,\n\ngostaríamos de uma cotação.",
        to=[(None, "vendas@example.com.br")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_desktop_pt_pt.txt": Case(
        subject="FW: Pedido de orçamento - 12 paletes",
        sender=("Rui Figueiredo", "rui.figueiredo@quinta-do-douro.pt"),
        original_subject="Pedido de orçamento - 12 paletes",
        body="Bom dia,\n\ngostaríamos de receber um orçamento para o transporte de 12 paletes do Porto para Lisboa.",
        to=[("Vendas", "vendas@example.pt"), ("Tiago Almeida", "tiago.almeida@example.pt")],
        cc=[("Inês Carvalho", "ines.carvalho@quinta-do-douro.pt")],
        note="Olá Rita,\n\npodes tratar deste pedido? O cliente precisa da resposta até sexta.\n\nObrigado,\nTiago",
        date=datetime(2024, 3, 4, 9, 15),
        date_text="segunda-feira, 4 de março de 2024 09:15",
    ),
    "outlook_desktop_cs.txt": Case(
        subject="FW: Reklamace dodávky 2024/031",
        sender=("Petra Dvořáková", "petra.dvorakova@strojirny-brno.cz"),
        original_subject="Reklamace dodávky 2024/031",
        body="Dobrý den,\n\nu dodávky 2024/031 chybí dvě palety.",
        to=[("Obchod", "obchod@example.cz")],
        cc=[("Novák, Jan", "jan.novak@strojirny-brno.cz"), ("Martin Svoboda", "m.svoboda@strojirny-brno.cz")],
        note="Ahoj, prosím o vyřízení.",
        date=datetime(2024, 3, 4, 9, 15),
        date_text="pondělí 4. března 2024 9:15",
    ),
    "outlook_original_ro.txt": Case(
        subject="Redir.: Cerere de ofertă transport Cluj - Viena",
        sender=("Andrei Popescu", "andrei.popescu@transcarpatia.ro"),
        original_subject="Cerere de ofertă transport Cluj - Viena",
        body="Bună ziua,\n\nvă rugăm să ne trimiteți o ofertă.",
        to=[("Vânzări", "vanzari@example.ro")],
        cc=[("Ioana Munteanu", "ioana.munteanu@transcarpatia.ro")],
        note="Te rog să te ocupi de acest client.",
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_2013_de.txt": Case(
        subject="WG: Angebot Ersatzteile",
        sender=("Klaus Becker", "k.becker@maschinenbau-koeln.de"),
        original_subject="Angebot Ersatzteile",
        body="Sehr geehrte Damen und Herren,\n\nbitte senden Sie uns ein Angebot.",
        to=[(None, "vertrieb@example.de")],
        cc=[("Sabine Wolf", "s.wolf@maschinenbau-koeln.de")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_web_fr.txt": Case(
        subject="TR: Demande de devis",
        sender=("Claire Martin", "claire.martin@vins-bordeaux.fr"),
        original_subject="Demande de devis",
        body="Bonjour,\n\npourriez-vous nous envoyer un devis ?",
        to=[("Ventes", "ventes@example.fr")],
        cc=[("Julien Bernard", "julien.bernard@vins-bordeaux.fr")],
        note="Pour suite à donner.",
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_web_nl.txt": Case(
        subject="FW: Offerteaanvraag",
        sender=("Sanne de Vries", "sanne.devries@polder-bouw.nl"),
        original_subject="Offerteaanvraag",
        body="Goedemorgen,\n\ngraag ontvangen wij een offerte.",
        to=[(None, "verkoop@example.nl")],
        cc=[("Bram Jansen", "bram.jansen@polder-bouw.nl")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "new_outlook_sk.txt": Case(
        subject="FW: Dopyt na stavebný materiál",
        sender=("Marek Horváth", "marek.horvath@tatra-stavby.sk"),
        original_subject="Dopyt na stavebný materiál",
        body="Dobrý deň,\nprosíme o cenovú ponuku.",
        to=[(None, "obchod@example.sk")],
        cc=[("Zuzana Kováčová", "zuzana.kovacova@tatra-stavby.sk")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "new_outlook_fi.txt": Case(
        subject="VL: Tarjouspyyntö",
        sender=("Mikko Virtanen", "mikko.virtanen@saimaa-paper.fi"),
        original_subject="Tarjouspyyntö",
        body="Hei,\npyydämme tarjousta.",
        to=[(None, "myynti@example.fi")],
        cc=[("Laura Mäkinen", "laura.makinen@saimaa-paper.fi")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_desktop_it.txt": Case(
        subject="I: Richiesta di preventivo",
        sender=("Giulia Romano", "giulia.romano@toscana-vini.it"),
        original_subject="Richiesta di preventivo",
        body="Buongiorno,\n\nvorremmo un preventivo.",
        to=[("Vendite", "vendite@example.it")],
        cc=[("Marco Ricci", "marco.ricci@toscana-vini.it")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_desktop_es.txt": Case(
        subject="RV: Pedido 4471",
        sender=("Javier Morales", "javier.morales@andalucia-aceites.es"),
        original_subject="Pedido 4471",
        body="Hola,\n\nadjuntamos el pedido 4471.",
        to=[(None, "ventas@example.es")],
        cc=[("Carmen López", "carmen.lopez@andalucia-aceites.es")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_desktop_da.txt": Case(
        subject="VS: Forespørgsel",
        sender=("Mette Nielsen", "mette.nielsen@oresund-fisk.dk"),
        original_subject="Forespørgsel",
        body="Hej,\n\nkan I sende et tilbud?",
        to=[(None, "salg@example.dk")],
        cc=[("Lars Jensen", "lars.jensen@oresund-fisk.dk")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_desktop_no.txt": Case(
        subject="Videresend: Tilbudsforespørsel",
        sender=("Ingrid Hansen", "ingrid.hansen@fjell-energi.no"),
        original_subject="Tilbudsforespørsel",
        body="Hei,\n\nvi ønsker et tilbud.",
        to=[(None, "salg@example.no")],
        cc=[("Ola Nordmann", "ola.nordmann@fjell-energi.no")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_hu.txt": Case(
        subject="TOV: Árajánlatkérés",
        sender=("Nagy Péter", "peter.nagy@duna-gep.hu"),
        original_subject="Árajánlatkérés",
        body="Tisztelt Hölgyem/Uram!",
        to=[("Értékesítés", "ertekesites@example.hu")],
        cc=[("Kovács Éva", "eva.kovacs@duna-gep.hu")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_tr.txt": Case(
        subject="İLT: Fiyat teklifi",
        sender=("Mehmet Yılmaz", "mehmet.yilmaz@anadolu-tekstil.com.tr"),
        original_subject="Fiyat teklifi",
        body="Merhaba,\n\nfiyat teklifinizi bekliyoruz.",
        to=[(None, "satis@example.com.tr")],
        cc=[("Ayşe Demir", "ayse.demir@anadolu-tekstil.com.tr")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_ru.txt": Case(
        subject="Пересл.: Запрос коммерческого предложения",
        sender=("Иван Петров", "ivan.petrov@volga-trans.ru"),
        original_subject="Запрос коммерческого предложения",
        body="Добрый день!",
        to=[("Отдел продаж", "sales@example.ru")],
        cc=[("Ольга Смирнова", "olga.smirnova@volga-trans.ru")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_uk.txt": Case(
        subject="FW: Запит ціни",
        sender=("Олена Шевченко", "olena.shevchenko@dnipro-agro.ua"),
        original_subject="Запит ціни",
        body="Доброго дня!",
        to=[(None, "sales@example.com")],
        cc=[("Андрій Коваленко", "andrii.kovalenko@dnipro-agro.ua")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_ja.txt": Case(
        subject="転送: 製品カタログ送付のお願い",
        sender=("佐藤花子", "hanako.sato@fuji-seiki.co.jp"),
        original_subject="製品カタログ送付のお願い",
        body="お世話になっております。",
        to=[("営業部", "sales@example.jp")],
        cc=[("鈴木一郎", "ichiro.suzuki@fuji-seiki.co.jp")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "apple_mail_de.txt": Case(
        subject="Fwd: Rahmenvertrag 2025",
        sender=("Lena Fischer", "lena.fischer@hafen-logistik.de"),
        original_subject="Rahmenvertrag 2025",
        body="Guten Tag,\n\nanbei unser Entwurf für den Rahmenvertrag.\n\nViele Grüße\nLena Fischer",
        to=[(None, "vertrieb@example.de")],
        cc=[("Jonas Weber", "jonas.weber@hafen-logistik.de")],
        note="Bitte übernehmen.",
        date=datetime(2024, 3, 4, 9, 15, tzinfo=CET),
    ),
    "apple_mail_sv.txt": Case(
        subject="Fwd: Offertförfrågan",
        sender=("Erik Lindqvist", "erik.lindqvist@nordvind.se"),
        original_subject="Offertförfrågan",
        body="Hej,\n\nkan ni skicka en offert?",
        to=[(None, "salj@example.se")],
        date=datetime(2024, 3, 4, 9, 15, tzinfo=CET),
    ),
    "thunderbird_ro.txt": Case(
        subject="Fwd: Comandă nouă",
        sender=("Mihai Stan", "mihai.stan@agro-banat.ro"),
        original_subject="Comandă nouă",
        body="Bună ziua,\n\natașat comanda nouă.",
        to=[(None, "vanzari@example.ro"), ("Elena Radu", "elena.radu@example.ro")],
        date=datetime(2024, 3, 4, 9, 15, tzinfo=timezone(timedelta(hours=2))),
    ),
    "thunderbird_hr.txt": Case(
        subject="Fwd: Upit za ponudu",
        sender=("Ivana Horvat", "ivana.horvat@jadran-trade.hr"),
        original_subject="Upit za ponudu",
        body="Poštovani,\n\nmolimo ponudu za 20 paleta.",
        to=[(None, "prodaja@example.hr")],
        note="Pogledaj ovo.",
        date=datetime(2024, 3, 4, 9, 15, tzinfo=CET),
    ),
    "yahoo_en.txt": Case(
        subject="Fwd: Container rates Q2",
        sender=("Grace Okafor", "grace.okafor@lagos-freight.ng"),
        original_subject="Container rates Q2",
        body="Hello,\nplease share your container rates for Q2.\nGrace",
        to=[(None, "sales@example.com"), ("Daniel Reyes", "daniel@example.com")],
        cc=[("Tunde Bello", "tunde.bello@lagos-freight.ng")],
        note="Can you call them today?",
        date=datetime(2024, 3, 4, 9, 15, tzinfo=CET),
    ),
    "yahoo_cs.txt": Case(
        subject="Fwd: Poptávka skladování",
        sender=("Lucie Černá", "lucie.cerna@moravia-log.cz"),
        original_subject="Poptávka skladování",
        body="Dobrý den,\npoptáváme skladování 50 palet.",
        to=[(None, "obchod@example.cz")],
        date=datetime(2024, 3, 4, 9, 15, tzinfo=CET),
    ),
    "hubspot_es.txt": Case(
        subject="Fwd: Solicitud de presupuesto",
        sender=("Lucía Fernández", "lucia.fernandez@iberia-textil.es"),
        original_subject="Solicitud de presupuesto",
        body="Buenos días,\n\nnecesitamos un presupuesto para 300 unidades.",
        to=[(None, "ventas@example.es")],
        cc=[("Pablo Ruiz", "pablo.ruiz@iberia-textil.es")],
        date=datetime(2024, 3, 4, 9, 15, tzinfo=CET),
    ),
    "ionos_de.txt": Case(
        subject="WG: Lieferung KW 12",
        sender=("Stefan Braun", "stefan.braun@alpen-holz.at"),
        original_subject="Lieferung KW 12",
        body="Hallo,\n\ndie Lieferung verschiebt sich auf KW 12.",
        to=[(None, "vertrieb@example.de")],
        note="Zur Info.",
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "mailmate_en.txt": Case(
        subject="Fwd: Samples",
        sender=("Noah Williams", "noah@harbor-supply.com"),
        original_subject="Samples",
        body="Hi, could you send us samples?",
        to=[(None, "sales@example.com")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "missive_en.txt": Case(
        subject="Fwd: Demo request",
        sender=("Ava Thompson", "ava.thompson@brightline.io"),
        original_subject="Demo request",
        body="Hi team,\n\nwe'd like a demo next week.",
        to=[(None, "sales@example.com")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_mac_en.txt": Case(
        subject="FW: Contract renewal",
        sender=("Sarah O'Neill", "sarah.oneill@greenfield-farms.ie"),
        original_subject="Contract renewal",
        body="Hi,\n\ncould you send the updated contract?\n\nThanks,\nSarah",
        date=datetime(2024, 3, 4, 9, 15),
        date_text="04/03/2024, 09:15",
    ),
    "outlook_mac_pl.txt": Case(
        subject="PD: Cennik",
        sender=("Katarzyna Lewandowska", "k.lewandowska@baltic-foods.pl"),
        original_subject="Cennik",
        body="Dzień dobry,\n\nproszę o aktualny cennik.",
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_on_behalf_en.txt": Case(
        subject="FW: PO 7781",
        sender=("Mia Chen", "mia.chen@pacific-imports.com"),
        original_subject="PO 7781",
        body="Please confirm PO 7781.",
        to=[(None, "sales@example.com"), ("Doe, John", "john.doe@example.com")],
        cc=[("Park, Jae", "jae.park@pacific-imports.com")],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_bold_en.txt": Case(
        subject="FW: Meeting notes",
        sender=("Liam O'Brien", "liam.obrien@celtic-ventures.ie"),
        original_subject="Meeting notes",
        body="Notes attached.",
        to=[
            ("Sales Team", "sales@example.com"),
            ("Olivia Brown", "olivia@example.com"),
            ("Ethan Clarke", "ethan@example.com"),
        ],
        note="Forwarding for the record.",
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "signature_rule_en.txt": Case(
        subject="Fwd: Renewal",
        sender=("Sophie Turner", "sophie.turner@kestrel-labs.com"),
        original_subject="Renewal",
        body="Hi Robert, we'd like to renew.",
        to=[("Robert King", "robert.king@example.com")],
        note=(
            "See below.\n\n--\nRobert King | Key Account Manager\n"
            "________________________________\nExample Ltd | +44 20 7946 0000"
        ),
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "names_only_en.txt": Case(
        subject="FW: Ticket 5521 closed",
        sender=("Support Desk", None),
        original_subject="Ticket 5521 closed",
        body="Ticket 5521 was closed.",
        to=[("Robert King", None), ("Sales Team", None)],
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_desktop_pl.html": Case(
        subject="PD: Zapytanie ofertowe - transport chłodniczy",
        sender=("Tomasz Wiśniewski", "t.wisniewski@acme-logistics.pl"),
        original_subject="Zapytanie ofertowe - transport chłodniczy",
        body="Dzień dobry,\n\nprosimy o ofertę na transport chłodniczy Poznań – Praga.",
        to=[("Sprzedaż", "sprzedaz@example.pl")],
        cc=[("Nowak, Piotr", "p.nowak@acme-logistics.pl")],
        note="Aniu, proszę o kontakt z klientem.",
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "gmail_cs.html": Case(
        subject="Fwd: Objednávka č. 2024/118",
        sender=("Jan Novák", "jan.novak@strojirny-brno.cz"),
        original_subject="Objednávka č. 2024/118",
        body="Dobrý den,\n\nv příloze posílám objednávku.",
        to=[(None, "obchod@example.cz")],
        note="Pro info.",
        date=datetime(2024, 3, 4, 9, 15),
    ),
    "outlook_web_ro.html": Case(
        subject="Redir.: Cerere de ofertă",
        sender=("Andrei Popescu", "andrei.popescu@transcarpatia.ro"),
        original_subject="Cerere de ofertă",
        body="Bună ziua,\nvă rugăm să ne trimiteți o ofertă.",
        to=[("Vânzări", "vanzari@example.ro")],
        note="Vă rog să preluați.",
        date=datetime(2024, 3, 4, 9, 15),
    ),
}

#: Replies (and a plain message) whose quoted text looks like a forward header: none of them is a forward.
NEGATIVES = {
    "reply_gmail_en.txt": "Re: Request for quotation: 40 pallets",
    "reply_outlook_de.txt": "AW: Angebot Ersatzteile",
    "reply_outlook_original_pl.txt": "RE: Zapytanie ofertowe",
    "reply_thunderbird_cs.txt": "Re: Objednávka č. 2024/118",
    "plain_note_en.txt": "Meeting moved",
}


def load(name: str) -> str:
    text = (FIXTURES / name).read_text(encoding="utf-8")
    return html_to_text(text) if name.endswith(".html") else text


def mailboxes(found: tuple[Mailbox, ...]) -> list[tuple[str | None, str | None]]:
    return [(m.name, m.address) for m in found]


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward(name: str) -> None:
    case = CASES[name]
    # Given a forward as the client wrote it, when it is parsed with the forward's own subject
    found = find_inline_forward(load(name), outer_subject=case.subject)
    # then every field of the original comes back
    assert found is not None
    assert found.from_ == Mailbox(*case.sender)
    assert found.subject == case.original_subject
    assert found.body.startswith(case.body), found.body
    assert found.body == found.body.strip()
    assert mailboxes(found.to) == case.to
    assert mailboxes(found.cc) == case.cc
    assert found.note == case.note
    assert found.date_text
    assert found.date == case.date
    if case.date_text:
        assert found.date_text == case.date_text


@pytest.mark.parametrize("name", sorted(NEGATIVES))
def test_reply_is_not_a_forward(name: str) -> None:
    assert find_inline_forward(load(name), outer_subject=NEGATIVES[name]) is None


def test_fixtures_are_all_used() -> None:
    # (whole messages, in chains/, are test_chains.py's)
    files = {p.name for p in FIXTURES.iterdir() if p.is_file()}
    assert files == set(CASES) | set(NEGATIVES) | {"gmail_nested_en.txt"}


def test_nested_forward_returns_the_outermost_block() -> None:
    outer = find_inline_forward(load("gmail_nested_en.txt"), outer_subject="Fwd: Fwd: Pricing for 2025")
    assert outer is not None
    assert outer.from_ == Mailbox("Priya Natarajan", "priya@example.com")
    assert outer.subject == "Pricing for 2025"
    assert outer.note == "FYI, see the thread below."
    # The caller unwraps inward by parsing the body again.
    inner = find_inline_forward(outer.body, outer_subject=outer.subject)
    assert inner is not None
    assert inner.from_ == Mailbox("Henrik Larsen", "henrik.larsen@fjord-shipping.no")
    assert inner.note == "Lucas, this came to me by mistake."
    assert inner.body == "Hi Priya, please send your 2025 price list."


def test_outlook_header_is_a_forward_without_a_reply_prefix() -> None:
    # The same Outlook block is a forward under FW:, or no prefix at all, and a reply under RE:/AW:/SV:…
    text = load("reply_outlook_de.txt")
    assert find_inline_forward(text, outer_subject="WG: Angebot Ersatzteile") is not None
    assert find_inline_forward(text, outer_subject="Angebot Ersatzteile") is not None
    assert find_inline_forward(text, outer_subject=None) is not None
    for subject in ("AW: x", "RE: x", "SV: x", "Odp: x", "Re: Fwd: x"):
        assert find_inline_forward(text, outer_subject=subject) is None, subject


def test_attribution_is_a_forward_only_under_a_forward_prefix() -> None:
    text = load("outlook_mac_en.txt")
    assert find_inline_forward(text, outer_subject="FW: Contract renewal") is not None
    for subject in ("Re: Contract renewal", "Contract renewal", None):
        assert find_inline_forward(text, outer_subject=subject) is None, subject


def test_forward_separator_wins_over_a_reply_subject() -> None:
    # "---------- Forwarded message" says forward whatever the subject claims.
    found = find_inline_forward(load("gmail_en.txt"), outer_subject="Re: quote")
    assert found is not None
    assert found.from_ is not None and found.from_.address == "oliver.grant@northwind-traders.co.uk"


def test_forward_quoted_inside_a_reply_is_not_a_forward() -> None:
    text = "Agreed.\n\nOn Mon, Mar 4, 2024 at 9:15 AM Ann Lee <ann@example.com> wrote:\n> " + "\n> ".join(
        load("gmail_en.txt").splitlines()
    )
    assert find_inline_forward(text, outer_subject="Re: Fwd: Request for quotation") is None


def test_wrapped_recipients_and_addresses_split_across_lines() -> None:
    text = (
        "---------- Forwarded message ---------\n"
        "From: Oliver Grant <oliver.grant@northwind-traders.co.uk>\n"
        "Date: Mon, Mar 4, 2024 at 9:15 AM\n"
        "Subject: Rates\n"
        "To: <sales@example.com>, Marta Zielińska <\n"
        "marta@example.com>\n"
        "Cc: Emma Hughes <emma.hughes@northwind-traders.co.uk>,\n"
        "  Noah Williams <noah@harbor-supply.com>\n"
        "\n"
        "Body.\n"
    )
    found = find_inline_forward(text, outer_subject="Fwd: Rates")
    assert found is not None
    assert mailboxes(found.to) == [(None, "sales@example.com"), ("Marta Zielińska", "marta@example.com")]
    assert [m.address for m in found.cc] == ["emma.hughes@northwind-traders.co.uk", "noah@harbor-supply.com"]
    assert found.body == "Body."


def test_block_with_only_a_sender_is_not_enough() -> None:
    text = "Thanks!\n\nFrom: the sales team in Brno\nRegards\n"
    assert find_inline_forward(text, outer_subject="Fwd: x") is None


def test_empty_text() -> None:
    assert find_inline_forward("", outer_subject="Fwd: x") is None


def test_result_type() -> None:
    assert isinstance(find_inline_forward(load("gmail_pl.txt")), InlineForward)


def test_invisible_characters_and_no_break_spaces_do_not_hide_a_forward() -> None:
    # A BOM and a zero-width space before the separator, no-break spaces inside it and in the header lines (as
    # Outlook on the web pastes them), and CRLF line ends
    text = (
        "\ufeff\u200bSee below.\r\n\r\n"
        "\u200b----------\xa0Forwarded message\xa0---------\r\n"
        "From:\xa0Oliver Grant <oliver.grant@northwind-traders.co.uk>\r\n"
        "Date:\xa0Mon, Mar 4, 2024 at 9:15 AM\r\n"
        "Subject:\xa0Rates\u200e\r\n"
        "To:\xa0<sales@example.com>\r\n"
        "\r\n"
        "Body.\u200f\r\n"
    )
    found = find_inline_forward(text, outer_subject="Fwd: Rates")
    assert found is not None
    assert found.from_ == Mailbox("Oliver Grant", "oliver.grant@northwind-traders.co.uk")
    assert (found.subject, found.body, found.note) == ("Rates", "Body.", "See below.")


def test_an_attribution_needs_its_closing_colon() -> None:
    # The same Outlook for Mac attribution with and without the colon that ends it
    text = load("outlook_mac_en.txt")
    assert find_inline_forward(text, outer_subject="FW: Contract renewal") is not None
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.rstrip().endswith("wrote:"))
    lines[at] = lines[at].rstrip()[:-1]
    assert find_inline_forward("\n".join(lines), outer_subject="FW: Contract renewal") is None
