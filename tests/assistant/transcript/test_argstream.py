"""Streamed tool-call arguments: few frames however many fragments, nothing lost or repeated."""

from __future__ import annotations

from assistant.providers.base import ToolCallDelta, ToolCallFinished, ToolCallStarted
from assistant.transcript.argstream import ArgumentStream


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_card_appears_at_once_then_fragments_are_coalesced_by_time():
    clock = Clock()
    stream = ArgumentStream(interval=0.05, max_chars=1000, clock=clock)
    first = stream.feed(ToolCallStarted(0, "c1", "create_note"))
    assert first == [{"type": "tool.call.delta", "tool_call": {"id": "c1", "name": "create_note", "index": 0},
                      "offset": 0, "delta": ""}]
    assert [f["delta"] for f in stream.feed(ToolCallDelta(0, "c1", '{"te'))] == ['{"te']  # the first: at once
    frames = []
    for piece in ['xt": "', "a", "b", "c"]:
        clock.now += 0.01
        frames += stream.feed(ToolCallDelta(0, "c1", piece))
    assert frames == []  # 40 ms: held
    clock.now += 0.02
    frames = stream.feed(ToolCallDelta(0, "c1", "d"))
    assert [(f["offset"], f["delta"]) for f in frames] == [(4, 'xt": "abcd')]
    last = stream.feed(ToolCallDelta(0, "c1", '"}'))
    last += stream.feed(ToolCallFinished(0, "c1", "create_note", "x"))
    assert [(f["offset"], f["delta"]) for f in last] == [(14, '"}')]


def test_a_long_argument_in_thousands_of_fragments_makes_a_handful_of_frames():
    stream = ArgumentStream(interval=0.05, max_chars=4096, clock=Clock())  # time stands still
    text = '{"text": "' + "x" * 40_000 + '"}'
    frames = stream.feed(ToolCallStarted(0, "c1", "create_note"))
    for start in range(0, len(text), 4):
        frames += stream.feed(ToolCallDelta(0, "c1", text[start:start + 4]))
    frames += stream.feed(ToolCallFinished(0, "c1", "create_note", text))
    assert len(frames) <= 2 + len(text) // 4096 + 1  # started, first fragment, by size, the rest
    assert "".join(f["delta"] for f in frames) == text
    offsets = [f["offset"] for f in frames]
    assert offsets == [sum(len(f["delta"]) for f in frames[:i]) for i in range(len(frames))]


def test_parallel_calls_are_streamed_separately():
    stream = ArgumentStream(clock=Clock())
    frames = stream.feed(ToolCallStarted(0, "a", "add")) + stream.feed(ToolCallStarted(1, "b", "add"))
    frames += stream.feed(ToolCallDelta(1, "b", "{}")) + stream.feed(ToolCallDelta(0, "a", "{"))
    frames += stream.feed(ToolCallDelta(0, "a", "}")) + stream.feed(ToolCallFinished(0, "a", "add", "{}"))
    by_call: dict[str, str] = {}
    for frame in frames:
        by_call[frame["tool_call"]["id"]] = by_call.get(frame["tool_call"]["id"], "") + frame["delta"]
    assert by_call == {"a": "{}", "b": "{}"}


def test_a_fragment_before_any_start_still_names_its_call():
    frames = ArgumentStream(clock=Clock()).feed(ToolCallDelta(0, "c9", "{"))
    assert frames[0]["tool_call"]["id"] == "c9" and frames[0]["delta"] == "{"
