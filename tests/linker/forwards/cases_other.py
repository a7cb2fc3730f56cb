"""What the inline-forward parser must read from each forward fixture of clients other than Outlook (Gmail, Apple
Mail, Thunderbird, Yahoo and smaller ones), by fixture name: the table is long because every client and language is
a case of its own."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.linker.forwards.inline_support import CET, Case

#: Forwards of every client but Outlook, by fixture name in ``tests/fixtures/forwards``.
OTHERS: dict[str, Case] = {
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
    "gmail_cs.html": Case(
        subject="Fwd: Objednávka č. 2024/118",
        sender=("Jan Novák", "jan.novak@strojirny-brno.cz"),
        original_subject="Objednávka č. 2024/118",
        body="Dobrý den,\n\nv příloze posílám objednávku.",
        to=[(None, "obchod@example.cz")],
        note="Pro info.",
        date=datetime(2024, 3, 4, 9, 15),
    ),
}
