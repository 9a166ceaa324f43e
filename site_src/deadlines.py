"""Deadline arithmetic for the calculator: calendar days, then IRC 7503's next-business-day rule.

The holidays are computed at build time with the `holidays` package (federal legal holidays plus the
District of Columbia's, which is what IRC 7503 and Treas. Reg. 301.7503-1 count) and shipped to the
browser as a small data file; `last_day` here is the reference the browser script is tested against.
The years covered come from the content's dates (or SOURCE_DATE_EPOCH), never the wall clock, so a
build is reproducible.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from typing import Iterable, Mapping

FALLBACK_YEAR = 2026
"""Centre year when neither the content nor SOURCE_DATE_EPOCH carries a date."""
YEARS_BEFORE, YEARS_AFTER = 1, 3


def holiday_years(dates: Iterable[dt.date | None], epoch: str | None = None) -> range:
    """The years the calculator covers: one before the oldest content date to three after the newest.

    `epoch` is SOURCE_DATE_EPOCH (seconds) when set; it widens the range to include the build year.
    """
    years = {d.year for d in dates if d is not None}
    if epoch and epoch.strip().isdigit():
        years.add(dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc).year)
    if not years:
        years = {FALLBACK_YEAR}
    return range(min(years) - YEARS_BEFORE, max(years) + YEARS_AFTER + 1)


def legal_holidays(years: range) -> dict[dt.date, str]:
    """Federal and District of Columbia legal holidays (observed days included) for `years`."""
    import holidays as holidays_lib  # imported here: slow to import, and only needed when the table is made

    found = holidays_lib.country_holidays("US", subdiv="DC", years=list(years))
    return {day: name for day, name in sorted(found.items())}


@dataclass(frozen=True)
class DeadlineResult:
    counted: dt.date
    """The day `days` calendar days after the notice date."""
    last_day: dt.date
    """`counted`, or the next business day when `counted` is a weekend day or legal holiday."""
    reason: str
    """Why it moved ('' when it did not): 'Saturday', 'Sunday' or the holiday's name."""


def why_closed(day: dt.date, holidays: Mapping[dt.date, str]) -> str:
    if day.weekday() == 5:
        return "Saturday"
    if day.weekday() == 6:
        return "Sunday"
    return holidays.get(day, "")


def last_day(notice_date: dt.date, days: int, holidays: Mapping[dt.date, str]) -> DeadlineResult:
    """Count `days` calendar days from the notice date; a weekend or holiday last day moves forward."""
    counted = notice_date + dt.timedelta(days=days)
    reason = why_closed(counted, holidays)
    day = counted
    while why_closed(day, holidays):
        day += dt.timedelta(days=1)
    return DeadlineResult(counted, day, reason)


def days_left(deadline: dt.date, today: dt.date) -> int:
    """Days from today to the deadline: 0 on the day itself, negative when it has passed."""
    return (deadline - today).days


def holidays_script(holidays: Mapping[dt.date, str], years: range) -> bytes:
    """The browser's copy of the holiday table, as a script that sets one global (no inline JS needed)."""
    data = {"first": years.start, "last": years.stop - 1,
            "days": {d.isoformat(): name for d, name in sorted(holidays.items())}}
    text = json.dumps(data, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    return f"window.NHC_HOLIDAYS={text};\n".encode("ascii")


def build_years(dates: Iterable[dt.date | None]) -> range:
    return holiday_years(dates, os.environ.get("SOURCE_DATE_EPOCH"))


def ics_event(code: str, action: str, day: dt.date, url: str) -> str:
    """An all-day iCalendar event for the deadline (RFC 5545), as the browser script builds it."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")

    end = day + dt.timedelta(days=1)
    stamp = day.strftime("%Y%m%d")
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Notice Help Center//Deadline//EN", "CALSCALE:GREGORIAN",
        "BEGIN:VEVENT",
        f"UID:{fold_uid(code)}-{stamp}@notice-help-center",
        f"DTSTAMP:{stamp}T000000Z",
        f"DTSTART;VALUE=DATE:{stamp}",
        f"DTEND;VALUE=DATE:{end.strftime('%Y%m%d')}",
        f"SUMMARY:{esc('IRS ' + code + ' deadline')}",
        f"DESCRIPTION:{esc(action)}",
        f"URL:{url}",
        "END:VEVENT", "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


def fold_uid(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())
