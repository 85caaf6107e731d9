from __future__ import annotations

import pytest

from llamafile_ls.errors import ContextTooSmall, ModelServerError, StreamBroken
from llamafile_ls.sse import CompletionStreamParser


def feed_all(*lines: str) -> tuple[list[str], CompletionStreamParser]:
    parser = CompletionStreamParser()
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
    chunk = CompletionStreamParser().feed('data: {"content": "", "stop": true, "stopped_limit": true}')
    assert chunk is not None and chunk.stop_type == "limit"


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
