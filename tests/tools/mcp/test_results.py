"""CallToolResult → output (tools.mcp.results): nothing silently dropped, errors as errors."""

from __future__ import annotations

import base64

import mcp_types as types
import pytest

from tools.errors import ToolReportedError
from tools.mcp.results import MAX_TEXT, convert


def test_plain_text_comes_back_as_text():
    assert convert("s__t", types.CallToolResult(content=[types.TextContent(text="hi")])) == "hi"


def test_an_empty_result_is_an_empty_object_not_a_crash():
    assert convert("s__t", types.CallToolResult(content=[])) == {}


def test_audio_blobs_and_links_are_described_without_their_bytes():
    audio = base64.b64encode(b"a" * 30).decode()
    result = types.CallToolResult(content=[
        types.AudioContent(data=audio, mime_type="audio/wav"),
        types.EmbeddedResource(resource=types.BlobResourceContents(uri="file:///b.bin", blob=audio)),
        types.ResourceLink(uri="https://example.com/r", name="r"),
    ])
    audio_part, blob, link = convert("s__t", result)["content"]
    assert audio_part == {**audio_part, "type": "audio", "bytes": 30}
    assert blob["bytes"] == 30 and audio not in str(blob)
    assert link["uri"] == "https://example.com/r"


def test_is_error_raises_a_tool_error_with_the_servers_words():
    result = types.CallToolResult(content=[types.TextContent(text="no such repo")], is_error=True)
    with pytest.raises(ToolReportedError) as caught:
        convert("gh__get", result)
    assert caught.value.error.type == "execution_error"
    assert caught.value.error.message == "gh__get failed: no such repo"


def test_a_giant_text_block_is_cut_before_it_reaches_the_database():
    result = types.CallToolResult(content=[types.TextContent(text="z" * (MAX_TEXT + 10))])
    out = convert("s__t", result)
    assert len(out) < MAX_TEXT + 100 and out.endswith("[cut 10 characters]")
