"""Localized dates as clients print them in forwarded headers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from linker.forwards.dates import parse_date


def tz(hours: float) -> timezone:
    return timezone(timedelta(hours=hours))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wed, 3 Nov 2021 15:51:30 +0100", datetime(2021, 11, 3, 15, 51, 30, tzinfo=tz(1))),
        ("Wed, Oct 27, 2021 at 9:31 AM", datetime(2021, 10, 27, 9, 31)),
        ("Monday, September 19, 2022, 5:55:44 PM -0400", datetime(2022, 9, 19, 17, 55, 44, tzinfo=tz(-4))),
        ("Thursday, 28 October 2021 at 12:46", datetime(2021, 10, 28, 12, 46)),
        ("Tuesday, November 2, 2021, 09:26:50 AM GMT+1", datetime(2021, 11, 2, 9, 26, 50, tzinfo=tz(1))),
        ("pon., 4 mar 2024 o 09:15", datetime(2024, 3, 4, 9, 15)),  # pl
        ("poniedziałek, 4 marca 2024 09:15", datetime(2024, 3, 4, 9, 15)),
        ("pondělí 4. března 2024 9:15", datetime(2024, 3, 4, 9, 15)),  # cs
        ("po 4. 3. 2024 v 9:15", datetime(2024, 3, 4, 9, 15)),
        ("čt 4. července 2024 9:15", datetime(2024, 7, 4, 9, 15)),
        ("utorok 2. novembra 2021, 09:26:50 SEČ", datetime(2021, 11, 2, 9, 26, 50, tzinfo=tz(1))),  # sk
        ("luni, 4 martie 2024 09:15", datetime(2024, 3, 4, 9, 15)),  # ro
        ("marți, 2 noiembrie 2021, 09:26:50 CET", datetime(2021, 11, 2, 9, 26, 50, tzinfo=tz(1))),
        ("Montag, 4. März 2024 09:15", datetime(2024, 3, 4, 9, 15)),  # de
        ("26. Oktober 2021 um 14:25:08 OESZ", datetime(2021, 10, 26, 14, 25, 8, tzinfo=tz(3))),
        ("jeudi, 28 octobre 2021 à 12:06", datetime(2021, 10, 28, 12, 6)),  # fr
        ("martes, 2 de noviembre de 2021 09:26:50 CET", datetime(2021, 11, 2, 9, 26, 50, tzinfo=tz(1))),  # es
        ("martedì 2 novembre 2021, 09:26:50 CET", datetime(2021, 11, 2, 9, 26, 50, tzinfo=tz(1))),  # it
        ("quarta, 27/10/2021 à(s) 09:31", datetime(2021, 10, 27, 9, 31)),  # pt
        ("maandag 19 september 2022 17:55:44 -0400", datetime(2022, 9, 19, 17, 55, 44, tzinfo=tz(-4))),  # nl
        ("4. marts 2024 09.15", datetime(2024, 3, 4, 9, 15)),  # da
        ("maanantai 19. syyskuuta 2022 klo 17.55.44 -0400", datetime(2022, 9, 19, 17, 55, 44, tzinfo=tz(-4))),
        ("2021. október 26. 14:25:08 EEST", datetime(2021, 10, 26, 14, 25, 8, tzinfo=tz(3))),  # hu
        ("2021. okt. 27., Sze, 9:31", datetime(2021, 10, 27, 9, 31)),
        ("26. lipnja 2021. u 14:25:08", datetime(2021, 6, 26, 14, 25, 8)),  # hr
        ("понедельник, 4 марта 2024 г. 9:15", datetime(2024, 3, 4, 9, 15)),  # ru
        ("ср, 27 жовт. 2021 о 09:31", datetime(2021, 10, 27, 9, 31)),  # uk
        ("4 Mart 2024 Pazartesi 09:15", datetime(2024, 3, 4, 9, 15)),  # tr
        ("K, 27. oktoober 2021 kell 09:31", datetime(2021, 10, 27, 9, 31)),  # et
        ("2024年3月4日(月) 9:15", datetime(2024, 3, 4, 9, 15)),  # ja
        ("28/10/21, 12:46", datetime(2021, 10, 28, 12, 46)),
        ("10/28/2021 3:00 PM", datetime(2021, 10, 28, 15, 0)),
        ("2021-10-28 12:46", datetime(2021, 10, 28, 12, 46)),
        ("27/10/2021 15:14 (GMT+01:00)", datetime(2021, 10, 27, 15, 14, tzinfo=tz(1))),
    ],
)
def test_parse_date(text: str, expected: datetime) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize("text", [None, "", "yesterday", "sometime in March", "31/31/2021", "Tuesday 9:15"])
def test_unreadable_dates(text: str | None) -> None:
    assert parse_date(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Slashes and a bare AM/PM: the US month/day/year (Lotus Notes, Outlook with US short dates)
        ("03/04/2024 09:15 AM", datetime(2024, 3, 4, 9, 15)),
        ("3/4/2024 9:15:00 PM", datetime(2024, 3, 4, 21, 15)),
        ("Mon 03/04/2024 9:15 am", datetime(2024, 3, 4, 9, 15)),
        # A 24-hour clock, dots, or Spanish "a. m." (Mexico, Colombia): day/month/year
        ("03/04/2024 09:15", datetime(2024, 4, 3, 9, 15)),
        ("03.04.2024 09:15", datetime(2024, 4, 3, 9, 15)),
        ("03/04/2024 09:15 a. m.", datetime(2024, 4, 3, 9, 15)),
        # A day past 12 decides alone
        ("13/04/2024 09:15 AM", datetime(2024, 4, 13, 9, 15)),
        ("10/28/2021 13:00", datetime(2021, 10, 28, 13, 0)),
    ],
)
def test_which_number_is_the_month_in_a_numeric_date(text: str, expected: datetime) -> None:
    assert parse_date(text) == expected
