"""current_time reports the local time of an IANA zone and helps the model fix bad zone names."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest

from tools import ArgumentError, Risk
from tools.builtin.clock import current_time, describe, format_offset, load_zone, suggest_zones
from tools.errors import ErrorType
from tools.pipeline import Pipeline, ToolCallRequest
from tools.registry import Registry


def _pipeline() -> Pipeline:
    reg = Registry()
    reg.register(current_time)
    return Pipeline(reg, gate=None, access=None, record=False)


def _close_to_now(iso: str) -> bool:
    return abs(datetime.fromisoformat(iso) - datetime.now(UTC)) < timedelta(minutes=1)


async def test_current_time_defaults_to_utc():
    res = await _pipeline().call(ToolCallRequest("current_time", "{}"))
    assert res.status == "ok"
    assert res.output["timezone"] == "UTC"
    assert res.output["utc_offset"] == "+00:00"
    assert res.output["datetime"].endswith("+00:00")
    assert _close_to_now(res.output["datetime"])


async def test_tokyo_is_reported_nine_hours_ahead_with_a_consistent_weekday():
    res = await _pipeline().call(ToolCallRequest("current_time", '{"timezone": "Asia/Tokyo"}'))
    assert res.status == "ok"
    out = res.output
    local = datetime.fromisoformat(out["datetime"])
    assert out["timezone"] == "Asia/Tokyo"
    assert out["utc_offset"] == "+09:00"
    assert local.utcoffset() == timedelta(hours=9)
    assert out["weekday"] == local.strftime("%A")
    assert out["date"] == local.date().isoformat()
    assert out["abbreviation"] == "JST"
    assert _close_to_now(out["datetime"])


def test_daylight_saving_time_changes_the_offset():
    new_york = zoneinfo.ZoneInfo("America/New_York")
    winter = describe(datetime(2024, 1, 15, 17, 0, tzinfo=UTC), new_york)
    summer = describe(datetime(2024, 7, 15, 16, 0, tzinfo=UTC), new_york)
    assert winter["datetime"] == "2024-01-15T12:00:00-05:00"
    assert (winter["utc_offset"], winter["abbreviation"], winter["is_dst"]) == ("-05:00", "EST", False)
    assert summer["datetime"] == "2024-07-15T12:00:00-04:00"
    assert (summer["utc_offset"], summer["abbreviation"], summer["is_dst"]) == ("-04:00", "EDT", True)


def test_the_weekday_and_date_are_those_of_the_zone_not_of_utc():
    moment = datetime(2024, 2, 29, 12, 0, tzinfo=UTC)  # a Thursday in UTC
    kiritimati = describe(moment, zoneinfo.ZoneInfo("Pacific/Kiritimati"))  # UTC+14
    assert describe(moment, zoneinfo.ZoneInfo("UTC"))["weekday"] == "Thursday"
    assert kiritimati["date"] == "2024-03-01"
    assert (kiritimati["weekday"], kiritimati["time"]) == ("Friday", "02:00:00")


@pytest.mark.parametrize(("offset", "text"), [
    (timedelta(0), "+00:00"),
    (timedelta(hours=5, minutes=45), "+05:45"),
    (timedelta(hours=-3, minutes=-30), "-03:30"),
    (timedelta(minutes=19, seconds=32), "+00:19:32"),
    (None, "+00:00"),
])
def test_utc_offsets_are_formatted_as_iso_8601(offset, text):
    assert format_offset(offset) == text


async def test_an_unknown_zone_reaches_the_model_as_a_validation_error_with_suggestions():
    res = await _pipeline().call(ToolCallRequest("current_time", '{"timezone": "Tokyo"}'))
    assert res.status == "error"
    assert res.error.type == ErrorType.VALIDATION_ERROR
    assert res.error.details[0]["path"] == "timezone"
    assert res.error.details[0]["got"] == "Tokyo"
    assert "unknown time zone 'Tokyo'" in res.error.message
    assert "Asia/Tokyo" in res.error.hint
    assert "Area/City" in res.error.hint


@pytest.mark.parametrize(("name", "suggestion"), [
    ("Tokyo", "Asia/Tokyo"),
    ("new york", "America/New_York"),
    ("asia/tokyo", "Asia/Tokyo"),
    ("Europe/Pari", "Europe/Paris"),
    ("Sydney", "Australia/Sydney"),
    ("Berlinn", "Europe/Berlin"),
])
def test_close_zone_names_are_suggested(name, suggestion):
    assert suggestion in suggest_zones(name)
    with pytest.raises(ArgumentError) as info:
        load_zone(name)
    assert suggestion in info.value.hint


def test_a_close_match_is_only_suggested_never_used():
    with pytest.raises(ArgumentError):
        current_time.fn("asia/tokyo")


@pytest.mark.parametrize("name", [
    "../../etc/passwd",
    "/etc/passwd",
    "Europe/../../../etc/passwd",
    "Europe/../Europe/Paris",
    "America",  # a directory inside the database
    "",
    "Asia/Tokyo\x00",
    "x" * 150,
])
def test_path_like_and_malformed_names_get_the_same_clear_error(name):
    with pytest.raises(ArgumentError) as info:
        current_time.fn(name)
    assert info.value.path == "timezone"
    assert info.value.message.startswith("unknown time zone ")
    assert "Area/City" in info.value.hint


async def test_a_path_escape_attempt_through_the_pipeline_is_a_validation_error():
    res = await _pipeline().call(ToolCallRequest("current_time", '{"timezone": "../../etc/passwd"}'))
    assert res.status == "error"
    assert res.error.type == ErrorType.VALIDATION_ERROR
    assert res.error.details[0]["path"] == "timezone"
    assert res.error.message == "invalid arguments for current_time: unknown time zone '../../etc/passwd'"


def test_current_time_is_low_risk_and_read_only():
    assert current_time.risk == Risk.LOW
    assert current_time.read_only is True
    assert current_time.parameters["properties"]["timezone"]["default"] == "UTC"
