"""The deadline rule the calculator uses: calendar days, then IRC 7503's next business day."""

from __future__ import annotations

import datetime as dt

import pytest

from site_src import deadlines

D = dt.date
HOLIDAYS = deadlines.legal_holidays(range(2025, 2030))


@pytest.mark.parametrize("notice, days, last, reason", [
    (D(2026, 3, 2), 30, D(2026, 4, 1), ""),                          # a Wednesday: no move
    (D(2026, 1, 2), 30, D(2026, 2, 2), "Sunday"),                    # Sunday -> Monday
    (D(2026, 1, 29), 30, D(2026, 3, 2), "Saturday"),                 # Saturday -> Monday, across a month end
    (D(2025, 12, 2), 30, D(2026, 1, 2), "New Year's Day"),           # across the year end, onto a holiday
    (D(2027, 12, 1), 30, D(2028, 1, 3), "New Year's Day (observed)"),  # observed holiday, then a weekend
    (D(2025, 12, 20), 30, D(2026, 1, 20), "Martin Luther King Jr. Day"),
    (D(2026, 3, 17), 30, D(2026, 4, 17), "Emancipation Day"),        # DC legal holiday counts (IRC 7503)
    (D(2026, 6, 3), 30, D(2026, 7, 6), "Independence Day (observed)"),
    (D(2026, 9, 28), 90, D(2026, 12, 28), "Sunday"),
    (D(2026, 10, 26), 60, D(2026, 12, 28), "Christmas Day"),          # Friday holiday, then the weekend
    (D(2028, 2, 29), 30, D(2028, 3, 30), ""),                        # leap day counts as a day
])
def test_last_day(notice, days, last, reason):
    result = deadlines.last_day(notice, days, HOLIDAYS)
    assert result.counted == notice + dt.timedelta(days=days)
    assert result.last_day == last
    assert result.reason == reason


def test_days_left_counts_to_the_last_day():
    assert deadlines.days_left(D(2026, 2, 2), D(2026, 1, 20)) == 13
    assert deadlines.days_left(D(2026, 2, 2), D(2026, 2, 2)) == 0
    assert deadlines.days_left(D(2026, 2, 2), D(2026, 2, 5)) == -3


def test_years_come_from_content_dates_or_source_date_epoch_never_the_clock():
    assert deadlines.holiday_years([D(2026, 11, 28), None]) == range(2025, 2030)
    assert deadlines.holiday_years([D(2024, 5, 1), D(2026, 11, 28)]) == range(2023, 2030)
    # SOURCE_DATE_EPOCH 1764288000 is 2025-11-28: the range still covers it.
    assert deadlines.holiday_years([D(2030, 1, 1)], "1764288000") == range(2024, 2034)
    assert deadlines.holiday_years([]) == range(deadlines.FALLBACK_YEAR - 1, deadlines.FALLBACK_YEAR + 4)


def test_holiday_table_is_federal_plus_dc_and_stable():
    years = range(2025, 2030)
    table = deadlines.legal_holidays(years)
    assert table[D(2026, 11, 26)] == "Thanksgiving Day"
    assert table[D(2026, 4, 16)] == "Emancipation Day"
    assert D(2026, 3, 17) not in table
    script = deadlines.holidays_script(table, years)
    assert script == deadlines.holidays_script(deadlines.legal_holidays(years), years)
    assert script.startswith(b'window.NHC_HOLIDAYS={"days":{"2025-01-01":"New Year\'s Day"')
    assert b'"first":2025,"last":2029' in script


def test_ics_event_is_an_all_day_event_on_the_last_day():
    text = deadlines.ics_event("Letter 1058", "Request a hearing; use Form 12153, by mail",
                               D(2026, 2, 2), "https://example.org/notices/letter-1058/")
    lines = text.split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2] == "END:VCALENDAR" and lines[-1] == ""
    assert "DTSTART;VALUE=DATE:20260202" in lines
    assert "DTEND;VALUE=DATE:20260203" in lines
    assert "SUMMARY:IRS Letter 1058 deadline" in lines
    assert "DESCRIPTION:Request a hearing\\; use Form 12153\\, by mail" in lines
    assert "UID:letter1058-20260202@notice-help-center" in lines
