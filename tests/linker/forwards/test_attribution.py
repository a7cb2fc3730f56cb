"""Reply attributions ("On … wrote:") in the languages Outlook for Mac, Gmail and Thunderbird write them."""

from __future__ import annotations

import pytest

from linker.forwards.attribution import find_attribution
from linker.model import Mailbox

SENDER = Mailbox("Jan Novák", "jan.novak@example.cz")


@pytest.mark.parametrize(
    ("line", "date_text"),
    [
        ('On 04/03/2024 09:15, "Jan Novák" <jan.novak@example.cz> wrote:', "04/03/2024 09:15"),  # en, Outlook
        ("On Mon, Mar 4, 2024 at 9:15 AM Jan Novák <jan.novak@example.cz> wrote:", "Mon, Mar 4, 2024 at 9:15 AM"),
        ('Dne 04.03.2024 9:15, "Jan Novák" <jan.novak@example.cz> napsal(a):', "04.03.2024 9:15"),  # cs
        ("Dnia 04.03.2024, 09:15, użytkownik „Jan Novák” <jan.novak@example.cz> napisał:", "04.03.2024, 09:15"),  # pl
        ("pon., 4 mar 2024 o 09:15 Jan Novák <jan.novak@example.cz> napisał(a):", "pon., 4 mar 2024 o 09:15"),
        ("Am 04.03.24 um 09:15 schrieb Jan Novák <jan.novak@example.cz>:", "04.03.24 um 09:15"),  # de
        ("Le 04/03/2024 09:15, « Jan Novák » <jan.novak@example.cz> a écrit :", "04/03/2024 09:15"),  # fr
        ('El 04/03/24 9:15, "Jan Novák" <jan.novak@example.cz> escribió:', "04/03/24 9:15"),  # es
        ('Il giorno 04/03/2024, 09:15 "Jan Novák" <jan.novak@example.cz> ha scritto:', "04/03/2024, 09:15"),  # it
        ('Em 04/03/24, 09:15, "Jan Novák" <jan.novak@example.cz> escreveu:', "04/03/24, 09:15"),  # pt
        ("Op 04-03-2024 09:15 heeft Jan Novák <jan.novak@example.cz> geschreven:", "04-03-2024 09:15"),  # nl
        ('Den 2024-03-04 09:15 skrev "Jan Novák" <jan.novak@example.cz> följande:', "2024-03-04 09:15"),  # sv
        ('D. 04/03/2024 09.15 skrev "Jan Novák" <jan.novak@example.cz>:', "04/03/2024 09.15"),  # da
        ("Jan Novák <jan.novak@example.cz> skrev følgende den 04.03.2024, 09:15:", "04.03.2024, 09:15"),  # no
        ('"Jan Novák" <jan.novak@example.cz> kirjoitti 4.3.2024 kello 9.15:', "4.3.2024 kello 9.15"),  # fi
        ("2024.03.04. 9:15 időpontban Jan Novák (<jan.novak@example.cz>) ezt írta:", "2024.03.04. 9:15"),  # hu
        ("04/03/2024 09:15 používateľ Jan Novák (<jan.novak@example.cz>) napísal:", "04/03/2024 09:15"),  # sk
        ('04.03.2024, 9:15 пользователь "Jan Novák" <jan.novak@example.cz> написал:', "04.03.2024, 9:15"),  # ru
        ('"Jan Novák" <jan.novak@example.cz>, 04.03.2024 09:15 tarihinde şunu yazdı:', "04.03.2024 09:15"),  # tr
        ("Pe lun., 4 mar. 2024 la 09:15, Jan Novák <jan.novak@example.cz> a scris:", "lun., 4 mar. 2024 la 09:15"),
        # Apple Mail in Polish: the sender first, no verb at the end
        (
            "Wiadomość napisana przez Jan Novák <jan.novak@example.cz> w dniu 04.03.2024, o godz. 09:15:",
            "04.03.2024, o godz. 09:15",
        ),
        (
            "po 4. 3. 2024 v 9:15 odesílatel Jan Novák <jan.novak@example.cz> napsal:",
            "po 4. 3. 2024 v 9:15",
        ),  # cs Gmail
    ],
)
def test_attribution(line: str, date_text: str) -> None:
    found = find_attribution([line, "", "    quoted"], 0)
    assert found is not None
    assert found.sender == SENDER
    assert found.date_text == date_text
    assert (found.start, found.end) == (0, 1)


def test_wrapped_attribution() -> None:
    lines = ["On March 4, 2024 at 9:15 AM, Jan Novák", "(jan.novak@example.cz) wrote:", "> hi"]
    found = find_attribution(lines, 0)
    assert found is not None
    assert found.sender == SENDER
    assert found.end == 2


def test_attribution_without_address() -> None:
    found = find_attribution(["On 04/03/2024 09:15, Jan Novák wrote:"], 0)
    assert found is not None
    assert found.sender == Mailbox("Jan Novák", None)


def test_german_thunderbird_names_the_sender_after_the_verb() -> None:
    found = find_attribution(["Am 04.03.24 um 09:15 schrieb Jan Novák:", "> hallo"], 0)
    assert found is not None
    assert found.sender == Mailbox("Jan Novák", None)
    assert found.date_text == "04.03.24 um 09:15"


@pytest.mark.parametrize(
    "lines",
    [
        ["pon., 4 mar 2024 o 09:15 Jan Novák <jan.novak@example.cz>", "napisał(a):", "> hi"],
        ["po 4. 3. 2024 v 9:15 odesílatel Jan Novák <jan.novak@example.cz>", "napsal:", "> hi"],
    ],
)
def test_gmail_wraps_a_weekday_first_attribution(lines: list[str]) -> None:
    # Gmail's text part wraps long lines; in Polish and Czech the attribution starts with the weekday
    found = find_attribution(lines, 0)
    assert found is not None
    assert found.sender == SENDER
    assert found.end == 2


@pytest.mark.parametrize(
    "lines",
    [
        ["I wrote this for you:"],
        ["On Monday at 10:00 I wrote to them:"],
        ["Am Montag um 10:00 schrieb ich an alle:"],
        ["Wiadomość napisana przez nas wczoraj"],
        ["He wrote: see you at 10:00"],
        ["Hi team,", "as Jan wrote on 04/03/2024 09:15 <jan.novak@example.cz> wrote:"],
        [""],
    ],
)
def test_not_an_attribution(lines: list[str]) -> None:
    assert find_attribution(lines, 0) is None
