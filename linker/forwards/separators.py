"""The lines mail clients put above a quoted message, per language: forward separators and reply attributions.

Data only. A *forward* separator ("Forwarded message", "Begin forwarded message:") proves a forward. An *original
message* separator ("-----Original Message-----", Outlook's underscore rule) is written above replies and forwards
alike, so the subject decides. An *attribution* ("On … wrote:") introduces a quoted reply; Outlook for Mac also
writes it above forwards, which only a forward prefix on the subject tells apart.
"""

# ruff: noqa: RUF001  (phrases are written in their own scripts; look-alike letters are intended)

from __future__ import annotations

from linker.forwards.tables import Table

#: Phrases between dashes (``---------- Forwarded message ---------``) or ending with a colon (Apple Mail's
#: ``Begin forwarded message:``) that only a forward produces. Gmail, HubSpot, Missive, Thunderbird, Yahoo, MailMate.
FORWARD: Table = {
    "en": [
        "Forwarded message",
        "Forwarded Message",
        "Begin forwarded message",
        "Forwarded e-mail",
        "Fwd Message",
        "Forwarded by",  # Lotus Notes: "----- Forwarded by Name/Org on 03/12/2024 11:52 AM -----"
    ],
    "pl": [
        "Wiadomość przekazana",
        "Wiadomość przesłana dalej",
        "Przekazana wiadomość",
        "Treść przekazanej wiadomości",
        "Początek przekazywanej wiadomości",
        "Przesłana wiadomość",
    ],
    "cs": ["Přeposlaná zpráva", "Začátek přeposílané zprávy", "Přeposlaný e-mail"],
    "sk": ["Preposlaná správa", "Začiatok preposlanej správy", "Preposlaný e-mail"],
    "ro": ["Mesaj redirecționat", "Mesaj redirecţionat", "Începe mesajul redirecționat", "Mesaj transmis"],
    "de": ["Weitergeleitete Nachricht", "Anfang der weitergeleiteten Nachricht", "Weitergeleitete E-Mail"],
    "fr": [
        "Message transféré",
        "Message transmis",
        "Début du message réexpédié",
        "Début du message transféré",
        "Courriel transféré",
    ],
    "es": ["Mensaje reenviado", "Inicio del mensaje reenviado", "Correo reenviado"],
    "it": ["Messaggio inoltrato", "Messaggio Inoltrato", "Inizio messaggio inoltrato"],
    "pt": [
        "Mensagem encaminhada",
        "Mensagem reencaminhada",
        "Início da mensagem reencaminhada",
        "Início da mensagem encaminhada",
    ],
    "nl": ["Doorgestuurd bericht", "Begin doorgestuurd bericht", "Doorgestuurde e-mail"],
    "sv": ["Vidarebefordrat meddelande", "Vidarebefordrat mejl", "Vidarebefordrat e-postmeddelande"],
    "da": ["Videresendt meddelelse", "Start på videresendt besked", "Videresendt besked"],
    "no": ["Videresendt melding", "Begynnelse på videresendt melding", "Videresendt e-post"],
    "fi": ["Edelleenlähetetty viesti", "Välitetty viesti", "Välitetty viesti alkaa", "Välitetty viesti / Fwd.Msg"],
    "hu": ["Továbbított üzenet", "Továbbított levél kezdete", "Továbbított levél"],
    "hr": ["Proslijeđena poruka", "Započni proslijeđenu poruku", "Prosljeđena poruka"],
    "ru": ["Пересылаемое сообщение", "Перенаправленное сообщение", "Начало переадресованного сообщения"],
    "uk": ["Перенаправлене повідомлення", "Переслане повідомлення", "Початок листа, що пересилається"],
    "tr": ["İletilmiş Mesaj", "İletilen İleti", "İleti başlangıcı", "İletilen mesaj"],
    "et": ["Edastatud kiri", "Edastatud sõnum"],
    "ja": ["転送メッセージ", "メッセージを転送", "転送されたメッセージ"],
    "zh": ["转发的邮件", "轉寄的郵件", "原始邮件"],
}

#: Phrases that head a quoted message in replies and forwards alike (Outlook desktop, IONOS, many webmails).
ORIGINAL: Table = {
    "en": ["Original Message", "Original message", "Original Email"],
    "pl": ["Wiadomość oryginalna", "Oryginalna wiadomość"],
    "cs": ["Původní zpráva", "Původní e-mail"],
    "sk": ["Pôvodná správa"],
    "ro": ["Mesaj original", "Mesajul original"],
    "de": ["Ursprüngliche Nachricht", "Original-Nachricht", "Originalnachricht"],
    "fr": ["Message d'origine", "Message original", "Message d’origine"],
    "es": ["Mensaje original"],
    "it": ["Messaggio originale"],
    "pt": ["Mensagem original"],
    "nl": ["Oorspronkelijk bericht", "Origineel bericht"],
    "sv": ["Ursprungligt meddelande", "Originalmeddelande"],
    "da": ["Oprindelig meddelelse", "Original meddelelse"],
    "no": ["Opprinnelig melding", "Originalmelding"],
    "fi": ["Alkuperäinen viesti"],
    "hu": ["Eredeti üzenet", "Eredeti levél"],
    "hr": ["Izvorna poruka", "Originalna poruka"],
    "ru": ["Исходное сообщение", "Оригинальное сообщение", "Исходное письмо"],
    "uk": ["Оригінальне повідомлення", "Початкове повідомлення"],
    "tr": ["Orijinal mesaj", "Özgün ileti", "Orijinal ileti"],
    "et": ["Algne kiri", "Algsõnum"],
    "ja": ["元のメッセージ", "オリジナルメッセージ"],
}

#: Whole lines, with no dashes or colon, that open a forward's header block (The Bat!).
PLAIN_FORWARD: Table = {
    "en": ["This is a forwarded message"],
}

#: Verbs that end a reply attribution line, ``On <date>, <name> <address> wrote:`` and its translations
#: (Gmail, Thunderbird, Apple Mail, MailMate, Missive, Yahoo, and Outlook for Mac, which writes it above forwards).
WROTE: Table = {
    "en": ["wrote"],
    "pl": ["napisał", "napisała", "napisał(a)", "pisze"],
    "cs": ["napsal", "napsala", "napsal(a)"],
    "sk": ["napísal", "napísala", "napísal(a)"],
    "ro": ["a scris"],
    "de": ["schrieb", "geschrieben"],
    "fr": ["a écrit"],
    "es": ["escribió"],
    "it": ["ha scritto", "scritto"],
    "pt": ["escreveu"],
    "nl": ["schreef", "geschreven"],
    "sv": ["skrev", "följande"],
    "da": ["skrev"],
    "no": ["skrev", "skrev følgende den"],
    "fi": ["kirjoitti"],
    "hu": ["írta", "ezt írta"],
    "hr": ["napisao", "napisala", "je napisao"],
    "ru": ["написал", "написала", "написал(а)", "пишет"],
    "uk": ["написав", "написала", "пише"],
    "tr": ["yazdı", "şunu yazdı"],
    "et": ["kirjutas"],
    "ja": ["のメッセージ", "書きました", "さんは書きました"],
    "zh": ["写道"],
}

#: Words that join the real sender and the mailbox it wrote for, in an Outlook ``From:`` line
#: (``Jane Doe <jane@x> on behalf of Sales <sales@x>``). The first mailbox is kept.
ON_BEHALF_OF: Table = {
    "en": ["on behalf of"],
    "pl": ["w imieniu"],
    "cs": ["jménem", "v zastoupení"],
    "sk": ["v mene"],
    "ro": ["în numele"],
    "de": ["im Auftrag von"],
    "fr": ["de la part de"],
    "es": ["en nombre de"],
    "it": ["per conto di"],
    "pt": ["em nome de"],
    "nl": ["namens"],
    "sv": ["för", "på uppdrag av"],
    "da": ["på vegne af"],
    "no": ["på vegne av"],
    "fi": ["puolesta"],
    "hu": ["nevében"],
    "tr": ["adına"],
    "ru": ["от имени"],
    "uk": ["від імені"],
}
