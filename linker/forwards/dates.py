"""Best-effort reading of the localized dates mail clients print in forwarded headers.

``Wed, 3 Nov 2021 15:51:30 +0100``, ``Thursday, 28 October 2021 at 12:46``, ``śr., 27 paź 2021 o 09:31``,
``2021. október 26. 14:25:08 EEST``, ``28/10/2021 12.46``, ``2021年10月27日(水) 9:31``… A date we cannot read is
``None``; the text as written is kept by the caller either way.
"""

# ruff: noqa: RUF001  (month names are written in their own scripts; look-alike letters are intended)

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

#: Month-name stems (lower case) in the languages we serve; the longest stem that starts a word wins.
#: Croatian ``listopad`` (October) is Polish and Czech November; it is read as November.
MONTH_STEMS: dict[str, int] = {
    # English, and the many languages that share these stems (de, nl, sv, da, no, sk, ro, et…)
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11,
    "dec": 12,
    "jän": 1, "märz": 3, "mär": 3, "mai": 5, "okt": 10, "dez": 12, "mrt": 3, "maa": 3, "mei": 5, "maj": 5,
    # French, Spanish, Italian, Portuguese, Romanian
    "janv": 1, "fév": 2, "févr": 2, "avr": 4, "juin": 6, "juil": 7, "août": 8, "aoû": 8, "déc": 12,
    "ene": 1, "abr": 4, "ago": 8, "set": 9, "dic": 12, "gen": 1, "mag": 5, "giu": 6, "lug": 7, "ott": 10,
    "fev": 2, "out": 10, "ian": 1, "iun": 6, "iul": 7, "noi": 11,
    # Polish
    "sty": 1, "lut": 2, "kwi": 4, "cze": 6, "lip": 7, "sie": 8, "wrz": 9, "paź": 10, "lis": 11, "gru": 12,
    # Czech (the genitive "července" is July, "června" June)
    "led": 1, "únor": 2, "úno": 2, "břez": 3, "dub": 4, "květ": 5, "červen": 6, "červn": 6, "červenc": 7,
    "srp": 8, "září": 9, "říj": 10, "listopad": 11, "prosin": 12,
    # Croatian ("lipanj" and "srpanj" told from Polish "lipiec" and Czech "srpen" by a longer stem)
    "siječ": 1, "velj": 2, "ožuj": 3, "trav": 4, "svib": 5, "lipn": 6, "lipanj": 6, "srpanj": 7, "srpnj": 7,
    "kolov": 8, "ruj": 9, "studen": 11,
    # Finnish
    "tammi": 1, "helmi": 2, "maalis": 3, "huhti": 4, "touko": 5, "kesä": 6, "heinä": 7, "elo": 8, "syys": 9,
    "loka": 10, "marras": 11, "joulu": 12,
    # Hungarian, Slovak, Turkish, Estonian
    "márc": 3, "ápr": 4, "máj": 5, "jún": 6, "júl": 7, "szept": 9,
    "oca": 1, "şub": 2, "nis": 4, "haz": 6, "tem": 7, "ağu": 8, "eyl": 9, "eki": 10, "kas": 11, "ara": 12,
    "jaan": 1, "veebr": 2, "märts": 3, "juuni": 6, "juuli": 7, "dets": 12,
    # Russian, Ukrainian
    "янв": 1, "фев": 2, "мар": 3, "апр": 4, "мая": 5, "май": 5, "июн": 6, "июл": 7, "авг": 8, "сен": 9, "окт": 10,
    "ноя": 11, "дек": 12, "січ": 1, "лют": 2, "бер": 3, "квіт": 4, "трав": 5, "черв": 6, "лип": 7, "серп": 8,
    "вер": 9, "жовт": 10, "лист": 11, "груд": 12,
}  # fmt: skip
#: Weekdays that start like a month stem: "martes" is not March (but Turkish "Mart" and Romanian "martie" are).
_NOT_MONTHS = ("martes", "mardi", "marted", "maandag", "maanantai")
_NOT_MONTH_WORDS = frozenset({"marți", "marţi", "marti"})
#: Zone abbreviations clients print, as hours east of UTC (MEZ/OESZ: German; SEČ: Slovak).
ZONES: dict[str, float] = {
    "UTC": 0, "GMT": 0, "WET": 0, "WEST": 1, "BST": 1, "CET": 1, "CEST": 2, "MEZ": 1, "MESZ": 2, "SEČ": 1,
    "SELČ": 2, "EET": 2, "EEST": 3, "OEZ": 2, "OESZ": 3, "MSK": 3, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
    "MST": -7, "MDT": -6, "PST": -8, "PDT": -7, "JST": 9, "IST": 5.5,
}  # fmt: skip

_JA = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_ISO = re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b")
_YMD_DOTS = re.compile(r"\b(\d{4})\s*\.\s*(\d{1,2})\s*\.\s*(\d{1,2})\b")
_NUMERIC = re.compile(r"\b(\d{1,2})\s*[./-]\s*(\d{1,2})\s*[./-]\s*(\d{4})\b")
_NUMERIC_SHORT = re.compile(r"\b(\d{1,2})\s*[./-]\s*(\d{1,2})\s*[./-]\s*(\d{2})\b")
#: RFC 5322 as Thunderbird prints it; the stdlib reads it, but is too lenient to be trusted with anything else.
_RFC = re.compile(
    r"^(?:[A-Z][a-z]{2},\s*)?\d{1,2}\s+[A-Z][a-z]{2}\s+\d{4}\s+\d{1,2}:\d{2}(?::\d{2})?\s*(?:[+-]\d{4}|[A-Z]{1,5})?$"
)
_TIME = re.compile(r"(?<![\d.:])(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?(?![\d])\s*([AaPp]\.?\s?[Mm]\.?)?")
_OFFSET = re.compile(r"(?:^|(?<=\s))([+-])(\d{2}):?(\d{2})\b")
_GMT_OFFSET = re.compile(r"\b(?:GMT|UTC)\s*([+-])(\d{1,2})(?::?(\d{2}))?\b")
#: A 12-hour clock's bare AM or PM: with it, a date written with slashes is the US month/day/year (Lotus Notes,
#: Outlook with US short dates); with dots or a 24-hour clock, day/month/year. Spanish "a. m." is not it: Mexico
#: and Colombia write day/month.
_MERIDIEM = re.compile(r"\d\s*[AaPp][Mm]\b")
_WORD = re.compile(r"[^\W\d_]+\.?")
_NUMBER = re.compile(r"(?<![\d:])\d{1,4}(?![\d:])")


def parse_date(text: str | None) -> datetime | None:
    """A ``datetime`` for a client-printed date, aware when the text names a zone, else ``None``."""
    if not text or not text.strip():
        return None
    text = " ".join(text.split())
    if _RFC.match(text):
        try:
            return parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            pass
    try:
        return _parse_loose(text)
    except (ValueError, OverflowError):
        return None


def _zone(text: str) -> tuple[timezone | None, str]:
    match = _GMT_OFFSET.search(text) or _OFFSET.search(text)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        delta = timedelta(hours=int(match.group(2)), minutes=int(match.group(3) or 0))
        return timezone(sign * delta), text[: match.start()] + " " + text[match.end() :]
    for word in re.findall(r"\b[A-ZÁČ]{2,5}\b", text):
        if word in ZONES:
            return timezone(timedelta(hours=ZONES[word])), text.replace(word, " ", 1)
    return None, text


def _month(word: str) -> int | None:
    word = word.casefold().rstrip(".")
    if word.startswith(_NOT_MONTHS) or word in _NOT_MONTH_WORDS:
        return None
    best = max((s for s in MONTH_STEMS if word.startswith(s)), key=len, default=None)
    return MONTH_STEMS[best] if best else None


def _year(value: str) -> int:
    year = int(value)
    return year + 2000 if year < 100 else year


def _numeric(text: str) -> tuple[int, int, int, str] | None:
    patterns = [(_JA, "ymd"), (_ISO, "ymd"), (_YMD_DOTS, "ymd"), (_NUMERIC, "dmy")]
    if not re.search(r"\d{4}", text):  # 28/10/21 only when no four-digit year is elsewhere ("14.25.08" is a time)
        patterns.append((_NUMERIC_SHORT, "dmy"))
    for pattern, order in patterns:
        for match in pattern.finditer(text):
            a, b, c = match.groups()
            if order == "ymd":
                day, month, year = int(c), int(b), _year(a)
            else:
                day, month, year = int(a), int(b), _year(c)
                us = "/" in match.group(0) and _MERIDIEM.search(text) is not None
                if month > 12 >= day or (us and day <= 12):  # 10/28/2021, or 03/04/2024 09:15 AM: the US order
                    day, month = month, day
            if 1 <= month <= 12 and 1 <= day <= 31:
                return day, month, year, text[: match.start()] + " " + text[match.end() :]
    return None


def _day_month_year(text: str) -> tuple[int, int, int, str] | None:
    found = _numeric(text)
    if found is not None:
        return found
    month = None
    for word in _WORD.finditer(text):
        month = _month(word.group(0))
        if month:
            text = text[: word.start()] + " " + text[word.end() :]
            break
    if month is None:
        return None
    numbers = [int(n) for n in _NUMBER.findall(_TIME.sub(" ", text))]
    years = [n for n in numbers if n >= 1000]
    days = [n for n in numbers if 1 <= n <= 31]
    if not years or not days:
        return None
    return days[0], month, years[0], text


def _parse_loose(text: str) -> datetime | None:
    tz, text = _zone(text)
    found = _day_month_year(text)
    if found is None:
        return None
    day, month, year, rest = found
    hour = minute = second = 0
    time = _TIME.search(rest)
    if time:
        hour, minute, second = int(time.group(1)), int(time.group(2)), int(time.group(3) or 0)
        meridiem = (time.group(4) or "").replace(".", "").replace(" ", "").lower()
        if meridiem == "pm" and hour < 12:
            hour += 12
        elif meridiem == "am" and hour == 12:
            hour = 0
    return datetime(year, month, day, hour, minute, second, tzinfo=tz)
