from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llamafile_ls.errors import ContextTooSmall, ModelServerError, StreamBroken
from llamafile_ls.providers.llamacpp import decode
from llamafile_ls.sse import EventStreamParser, LineReader


def feed_all(*lines: str) -> tuple[list[str], EventStreamParser]:
    parser = EventStreamParser(decode)
    contents = []
    for line in lines:
        chunk = parser.feed(line)
        if chunk is not None:
            contents.append(chunk.content)
    last = parser.close()
    if last is not None:
        contents.append(last.content)
    return contents, parser


def test_data_lines_pings_and_the_final_stop_chunk() -> None:
    contents, parser = feed_all(
        ": ping", 'data: {"content": "a", "stop": false}', "", 'data: {"content": "b"}', "",
        'data: {"content": "", "stop": true, "stop_type": "eos"}', "",
    )  # fmt: skip
    assert contents == ["a", "b", ""]
    assert parser.finished


def test_done_marker_ends_the_stream() -> None:
    _, parser = feed_all('data: {"content": "a"}', "data: [DONE]")
    assert parser.finished


def test_stopped_limit_of_older_servers_becomes_stop_type_limit() -> None:
    chunk = EventStreamParser(decode).feed('data: {"content": "", "stop": true, "stopped_limit": true}')
    assert chunk is not None and chunk.finish == "length"


def test_a_data_field_split_over_lines_is_joined() -> None:
    contents, _ = feed_all('data: {"content":', 'data: "x", "stop": true}', "")
    assert contents == ["x"]


def test_llama_cpp_error_event() -> None:
    with pytest.raises(ModelServerError, match="reported an error: boom"):
        feed_all('data: {"error": {"code": 500, "message": "boom", "type": "server_error"}}')


def test_llamafile_08_error_line() -> None:
    with pytest.raises(ModelServerError, match="reported an error: slot unavailable"):
        feed_all('error: {"message": "slot unavailable"}')


def test_context_errors_say_so() -> None:
    with pytest.raises(ContextTooSmall, match="does not fit the model server's context"):
        feed_all(
            'data: {"error": {"code": 400, "message": "the request exceeds the available context size", "type": "exceed_context_size_error"}}'
        )


@pytest.mark.parametrize("line", ["data: {not json", "<html>oops</html>", "data: [1, 2]"])
def test_malformed_events_are_a_clear_error(line: str) -> None:
    with pytest.raises(StreamBroken, match=r"malformed event|not an event stream"):
        feed_all(line, "")


# --- the byte stream, however it is cut ------------------------------------------------------

_CONTENT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    contents=st.lists(_CONTENT, min_size=0, max_size=12),
    line_end=st.sampled_from(["\n", "\r\n", "\r"]),
    pings=st.lists(st.booleans(), min_size=13, max_size=13),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=40),
    ascii_json=st.booleans(),
)
def test_any_chunking_of_a_valid_stream_gives_the_same_answer(
    contents: list[str], line_end: str, pings: list[bool], cuts: list[int], ascii_json: bool
) -> None:
    """Events with any text (line breaks, astral characters…), any SSE line ending, pings
    between them, sent in pieces cut anywhere (inside a UTF-8 character, between CR and LF):
    the reader and parser give exactly the contents sent, and the stop."""
    events = []
    for index, content in enumerate(contents):
        if pings[index]:
            events.append(": ping" + line_end * 2)
        events.append(
            "data: " + json.dumps({"content": content, "stop": False}, ensure_ascii=ascii_json) + line_end * 2
        )
    events.append("data: " + json.dumps({"content": "", "stop": True, "stop_type": "eos"}) + line_end * 2)
    data = "".join(events).encode()
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    reader, parser = LineReader(), EventStreamParser(decode)
    got: list[str] = []
    stopped = False
    for start, end in itertools.pairwise(points):
        for line in reader.feed(data[start:end]):
            chunk = parser.feed(line)
            if chunk is not None:
                stopped = stopped or chunk.stop
                if chunk.content:
                    got.append(chunk.content)
    for line in [*reader.close(), ""]:
        chunk = parser.feed(line)
        if chunk is not None:
            stopped = stopped or chunk.stop
    assert got == [content for content in contents if content]
    assert stopped and parser.finished


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=20))
def test_arbitrary_bytes_give_chunks_or_a_stream_error_never_anything_else(data: bytes, cuts: list[int]) -> None:
    points = sorted({cut % (len(data) + 1) for cut in cuts} | {0, len(data)})
    reader, parser = LineReader(limit=256), EventStreamParser(decode)
    try:
        for start, end in itertools.pairwise(points):
            for line in reader.feed(data[start:end]):
                parser.feed(line)
        for line in [*reader.close(), ""]:
            parser.feed(line)
    except (StreamBroken, ModelServerError, ContextTooSmall):
        pass  # the errors a user is shown; anything else would be a crash


def test_a_line_longer_than_the_limit_is_refused_without_holding_it() -> None:
    reader = LineReader(limit=1000)
    reader.feed(b"data: " + b"a" * 900)
    with pytest.raises(StreamBroken, match="longer than"):
        reader.feed(b"a" * 200)


def test_a_crlf_split_between_reads_is_one_line_end() -> None:
    reader = LineReader()
    assert reader.feed(b"data: 1\r") == ["data: 1"]
    assert reader.feed(b"\ndata: 2\r\n") == ["data: 2"]
    assert reader.feed(b"\r") == [""]
    assert reader.close() == []


@pytest.mark.parametrize(
    ("event", "field"),
    [({"content": "x", "stop": "false"}, "stop"), ({"content": 1}, "content"), ({"content": "", "stop": 1}, "stop"),
     ({"content": "", "stop": True, "truncated": "no"}, "truncated"), ({"content": "", "tokens_predicted": True}, "tokens_predicted")],
)  # fmt: skip
def test_chunk_fields_of_the_wrong_type_are_malformed(event: dict[str, object], field: str) -> None:
    with pytest.raises(StreamBroken, match=f"'{field}'"):
        EventStreamParser(decode).feed("data: " + json.dumps(event))
