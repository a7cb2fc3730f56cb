"""Header labels that mail clients write above an inline forward, per language.

Data only. Each table maps a language code to the labels its clients use (Outlook desktop, new Outlook, Outlook on
the web, Gmail, Apple Mail, Thunderbird, Yahoo, HubSpot, IONOS…). The parser matches the union of all languages,
because a forward's labels follow the forwarder's client language, not the message's; no label below means one
field in one language and another field in a different one. Separator lines and reply attributions are in
``separators.py``, subject prefixes in ``subject.py``.
"""

# ruff: noqa: RUF001  (labels are written in their own scripts; look-alike letters are intended)

from __future__ import annotations

from collections.abc import Mapping

from linker.forwards.tables import Table, index, longest_first

#: The original sender. Outlook writes ``Sent:``-style labels for the date, Gmail and Apple Mail ``Date:``.
FROM: Table = {
    "en": ["From", "Sender"],
    "pl": ["Od", "Nadawca"],
    "cs": ["Od", "Odesílatel"],
    "sk": ["Od", "Odosielateľ"],
    "ro": ["De la", "De", "Expeditorul", "Expeditor"],
    "de": ["Von", "Absender"],
    "fr": ["De", "Expéditeur"],
    "es": ["De", "Remitente"],
    "it": ["Da", "Mittente"],
    "pt": ["De", "Remetente"],
    "nl": ["Van", "Afzender"],
    "sv": ["Från", "Avsändare"],
    "da": ["Fra", "Afsender"],
    "no": ["Fra", "Avsender"],
    "fi": ["Lähettäjä"],
    "hu": ["Feladó"],
    "hr": ["Šalje", "Od", "Pošiljatelj"],
    "ru": ["От", "Отправитель", "От кого"],
    "uk": ["Від", "Від кого", "Відправник"],
    "tr": ["Kimden", "Gönderen"],
    "et": ["Saatja", "Kellelt"],
    "ja": ["差出人", "送信者", "送信元"],
    "zh": ["发件人", "寄件者", "寄件人"],
    "el": ["Από"],
}

#: Direct recipients.
TO: Table = {
    "en": ["To"],
    "pl": ["Do", "Adresat"],
    "cs": ["Komu"],
    "sk": ["Komu", "Pre"],
    "ro": ["Către", "Catre", "Destinatarul", "Destinatar", "Pentru"],
    "de": ["An", "Empfänger"],
    "fr": ["À", "A", "Pour", "Destinataire"],
    "es": ["Para", "Destinatario"],
    "it": ["A", "Destinatario"],
    "pt": ["Para", "Destinatário"],
    "nl": ["Aan"],
    "sv": ["Till", "Mottagare"],
    "da": ["Til", "Modtager"],
    "no": ["Til", "Mottaker"],
    "fi": ["Vastaanottaja"],
    "hu": ["Címzett"],
    "hr": ["Prima", "Za"],
    "ru": ["Кому"],
    "uk": ["Кому"],
    "tr": ["Kime", "Alıcı"],
    "et": ["Adressaat", "Kellele"],
    "ja": ["宛先", "送信先"],
    "zh": ["收件人"],
    "el": ["Προς"],
}

#: Carbon copies.
CC: Table = {
    "en": ["Cc", "CC"],
    "pl": ["DW", "Kopia", "DW."],
    "cs": ["Kopie", "Cc"],
    "sk": ["Kópia", "Cc"],
    "ro": ["Cc", "Copie"],
    "de": ["Cc", "Kopie", "Kopie (CC)"],
    "fr": ["Cc", "Copie", "Copie à"],
    "es": ["CC", "Copia"],
    "it": ["Cc", "Copia"],
    "pt": ["Cc", "Cópia"],
    "nl": ["CC", "Kopie"],
    "sv": ["Kopia", "Cc"],
    "da": ["Cc", "Kopi", "Kopi til"],
    "no": ["Kopi", "Cc", "Kopi til"],
    "fi": ["Kopio"],
    "hu": ["Másolatot kap", "Másolat"],
    "hr": ["Kopija", "Cc"],
    "ru": ["Копия", "Копии"],
    "uk": ["Копія"],
    "tr": ["Bilgi", "Cc"],
    "et": ["Koopia"],
    "ja": ["CC", "Cc"],
    "zh": ["抄送", "副本"],
    "el": ["Κοιν"],
}

#: When the original was sent: ``Date``-style (Gmail, Apple Mail, Thunderbird) and ``Sent``-style (Outlook) labels.
DATE: Table = {
    "en": ["Date", "Sent"],
    "pl": ["Data", "Wysłano", "Wysłane"],
    "cs": ["Datum", "Odesláno", "Odeslané"],
    "sk": ["Dátum", "Odoslané"],
    "ro": ["Data", "Dată", "Trimis"],
    "de": ["Datum", "Gesendet"],
    "fr": ["Date", "Envoyé", "Envoyé le"],
    "es": ["Fecha", "Enviado", "Enviado el"],
    "it": ["Data", "Inviato", "Inviato il"],
    "pt": ["Data", "Enviado", "Enviada", "Enviado em"],
    "nl": ["Datum", "Verzonden", "Verstuurd"],
    "sv": ["Datum", "Skickat", "Skickades"],
    "da": ["Dato", "Sendt"],
    "no": ["Dato", "Sendt"],
    "fi": ["Päivämäärä", "Päiväys", "Lähetetty", "Pvm"],
    "hu": ["Dátum", "Elküldve", "Küldve", "Elküldés ideje"],
    "hr": ["Datum", "Poslano"],
    "ru": ["Дата", "Отправлено", "Отправлено в"],
    "uk": ["Дата", "Надіслано", "Відправлено"],
    "tr": ["Tarih", "Gönderildi", "Gönderilen", "Gönderme"],
    "et": ["Kuupäev", "Saadetud"],
    "ja": ["日付", "送信日時", "送信日"],
    "zh": ["日期", "发送时间", "時間"],
    "el": ["Ημερομηνία", "Στάλθηκε"],
}

#: The original subject.
SUBJECT: Table = {
    "en": ["Subject"],
    "pl": ["Temat"],
    "cs": ["Předmět", "Vec"],
    "sk": ["Predmet", "Vec"],
    "ro": ["Subiect", "Subiectul"],
    "de": ["Betreff"],
    "fr": ["Objet", "Sujet"],
    "es": ["Asunto"],
    "it": ["Oggetto"],
    "pt": ["Assunto"],
    "nl": ["Onderwerp"],
    "sv": ["Ämne"],
    "da": ["Emne"],
    "no": ["Emne"],
    "fi": ["Aihe"],
    "hu": ["Tárgy"],
    "hr": ["Predmet", "Naslov"],
    "ru": ["Тема"],
    "uk": ["Тема"],
    "tr": ["Konu"],
    "et": ["Teema", "Pealkiri"],
    "ja": ["件名"],
    "zh": ["主题", "主旨"],
    "el": ["Θέμα"],
}

#: Header lines that belong to the block but that we do not keep (so they never leak into the body).
OTHER: Table = {
    "en": [
        "Reply-To",
        "Reply To",
        "Importance",
        "Priority",
        "Attachments",
        "Bcc",
        "Message-ID",
        "Sent by",
        # Mutt shows these among the original's headers (its default "unignore" list)
        "User-Agent",
        "X-Mailer",
        "Mail-Followup-To",
    ],
    "pl": ["Odpowiedź do", "Ważność", "Załączniki", "UDW"],
    "cs": ["Odpovědět komu", "Důležitost", "Přílohy", "Skrytá kopie"],
    "sk": ["Odpovedať na", "Dôležitosť", "Prílohy"],
    "ro": ["Răspuns către", "Importanță", "Atașări"],
    "de": ["Antwort an", "Wichtigkeit", "Anlagen", "Bcc"],
    "fr": ["Répondre à", "Importance", "Pièces jointes", "Cci"],
    "es": ["Responder a", "Importancia", "Datos adjuntos", "CCO"],
    "it": ["Rispondi a", "Priorità", "Allegati", "Ccn"],
    "pt": ["Responder a", "Responder para", "Importância", "Anexos", "Cco"],
    "nl": ["Beantwoorden aan", "Antwoord aan", "Urgentie", "Prioriteit", "Bijlagen"],
    "sv": ["Svara till", "Svar till", "Prioritet", "Bifogade filer", "Bilagor"],
    "da": ["Svar til", "Prioritet", "Vedhæftede filer"],
    "no": ["Svar til", "Viktighet", "Vedlegg"],
    "fi": ["Vastausosoite", "Tärkeys", "Liitteet"],
    "hu": ["Válaszcím", "Fontosság", "Mellékletek"],
    "hr": ["Odgovori", "Važnost", "Privici"],
    "ru": ["Ответить", "Важность", "Вложения"],
    "uk": ["Відповісти", "Важливість", "Вкладення"],
    "tr": ["Yanıtla", "Önem", "Ekler"],
    "ja": ["返信先", "重要度", "添付ファイル"],
}

#: Field names the parser produces, in the order tables are listed above.
FIELDS: Mapping[str, Table] = {
    "from": FROM,
    "to": TO,
    "cc": CC,
    "date": DATE,
    "subject": SUBJECT,
    "other": OTHER,
}


def label_index() -> dict[str, str]:
    """Every label, case-folded, mapped to its field (``from``, ``to``, ``cc``, ``date``, ``subject``, ``other``)."""
    return index(FIELDS.items())


def all_labels() -> list[str]:
    """Every label as written, longest first, so ``De la`` wins over ``De`` and ``Kopie (CC)`` over ``Kopie``."""
    return longest_first(*FIELDS.values())
