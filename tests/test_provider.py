"""The llamafile provider against httpx mock transports (fast, every failure shape) and a
closed port (a real refused connection). The real-server tier proves the same on llama.cpp."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from support.ports import free_port

from llamafile_ls.config import CompletionOptions, ModelConfig, RequestOptions
from llamafile_ls.errors import (
    AuthenticationFailed,
    ContextTooSmall,
    ModelServerError,
    RequestTimedOut,
    ServerUnreachable,
    StreamBroken,
)
from llamafile_ls.providers.base import Prompt
from llamafile_ls.providers.llamacpp import LlamaCppProvider as LlamafileProvider
from llamafile_ls.providers.llamacpp import completion_body

MODEL = ModelConfig(title="m", model="mistral-7b", api_base="http://llamafile.test:8080")


def provider_for(handler: Callable[[httpx.Request], httpx.Response], model: ModelConfig = MODEL) -> LlamafileProvider:
    return LlamafileProvider(model, transport=httpx.MockTransport(handler))


def sse_response(*events: object, status: int = 200) -> httpx.Response:
    body = "".join(e if isinstance(e, str) else f"data: {json.dumps(e)}\n\n" for e in events)
    return httpx.Response(status, headers={"content-type": "text/event-stream"}, content=body.encode())


async def collect(provider: LlamafileProvider, prompt: str = "p") -> str:
    return "".join([chunk.content async for chunk in provider.stream(Prompt(prompt))])


def test_options_are_sent_in_llama_cpp_names_and_llama_cpp_args_fill_the_rest() -> None:
    model = ModelConfig(
        title="m",
        completion_options=CompletionOptions(temperature=0.1, top_p=0.9, top_k=5, presence_penalty=0.3,
                                             frequency_penalty=0.4, stop=("###",), max_tokens=77),
        llama_cpp_args={"stop": ["[INST]", "###"], "n_predict": 5, "temperature": 2, "mirostat": 2},
    )  # fmt: skip
    body = completion_body(model, Prompt("PROMPT", stop=("</s>",)))
    assert body == {
        "prompt": "PROMPT", "stream": True, "n_predict": 77, "temperature": 0.1, "top_p": 0.9, "top_k": 5,
        "presence_penalty": 0.3, "frequency_penalty": 0.4, "mirostat": 2, "stop": ["###", "</s>", "[INST]"],
    }  # fmt: skip


def test_unset_options_are_left_to_the_server() -> None:
    body = completion_body(ModelConfig(title="m"), Prompt("p"))
    assert body == {"prompt": "p", "stream": True, "n_predict": 1023, "stop": ["[INST]"]}


async def test_streams_chunks_and_sends_key_and_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return sse_response(
            ": ping\n\n",
            {"content": "Hel"},
            {"content": "lo"},
            {"content": "", "stop": True, "stop_type": "eos"},
        )

    model = ModelConfig(title="m", api_base="http://h:1/", api_key="sk-1",
                        request_options=RequestOptions(headers={"X-Team": "t"}))  # fmt: skip
    assert await collect(provider_for(handler, model)) == "Hello"
    (request,) = seen
    assert request.url == "http://h:1/completion"
    assert request.headers["authorization"] == "Bearer sk-1"
    assert request.headers["x-team"] == "t"
    assert json.loads(request.content)["stream"] is True


@pytest.mark.parametrize(
    ("response", "error", "words"),
    [
        (httpx.Response(401, json={"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}}),
         AuthenticationFailed, "refused the request (HTTP 401: Invalid API Key); check api_key for model 'm'"),
        (httpx.Response(401, text="Unauthorized"), AuthenticationFailed, "HTTP 401: Unauthorized"),
        (httpx.Response(404, text="slot unavailable"), ModelServerError, "failed (HTTP 404): slot unavailable"),
        (httpx.Response(404, text=""), ModelServerError, "has no /completion endpoint (HTTP 404)"),
        (httpx.Response(500, json={"error": {"code": 500, "message": "kv cache full", "type": "server_error"}}),
         ModelServerError, "failed (HTTP 500): kv cache full"),
        (httpx.Response(500, text="Internal Server Error: oops"), ModelServerError, "failed (HTTP 500): Internal Server Error: oops"),
        (httpx.Response(503, json={"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}),
         ModelServerError, "not ready (HTTP 503: Loading model); it may still be loading"),
        (httpx.Response(400, json={"error": {"code": 400, "message": "the request exceeds the available context size", "type": "exceed_context_size_error"}}),
         ContextTooSmall, "does not fit the model server's context"),
    ],
)  # fmt: skip
async def test_http_errors_in_both_shapes_become_clear_messages(
    response: httpx.Response, error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as caught:
        await collect(provider_for(lambda _r: response))
    assert words in str(caught.value)


async def test_streamed_errors_of_llama_cpp_and_llamafile() -> None:
    with pytest.raises(ModelServerError, match="boom"):
        await collect(provider_for(lambda _r: sse_response({"content": "a"}, {"error": {"message": "boom"}})))
    with pytest.raises(ModelServerError, match="slot busy"):
        await collect(provider_for(lambda _r: sse_response('error: {"message": "slot busy"}\n\n')))


async def test_malformed_sse_and_a_stream_without_its_final_chunk() -> None:
    with pytest.raises(StreamBroken, match="malformed event"):
        await collect(provider_for(lambda _r: sse_response("data: {oops\n\n")))
    with pytest.raises(StreamBroken, match="ended the answer without finishing it"):
        await collect(provider_for(lambda _r: sse_response({"content": "a"})))


async def test_a_connection_broken_mid_answer() -> None:
    class Breaking(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield b'data: {"content": "a"}\n\n'
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    provider = provider_for(lambda _r: httpx.Response(200, stream=Breaking()))
    with pytest.raises(StreamBroken, match=r"broke the connection mid-answer \(after 1 token\)"):
        await collect(provider)


async def test_timeout_names_the_setting() -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    with pytest.raises(RequestTimedOut, match=r"within 300 s \(request_options.timeout\)"):
        await collect(provider_for(handler))


async def test_nothing_listening_says_how_to_start_a_llamafile() -> None:
    port = free_port()  # bound and released: nothing listens there now
    provider = LlamafileProvider(ModelConfig(title="mine", api_base=f"http://127.0.0.1:{port}"))
    with pytest.raises(ServerUnreachable) as caught:
        await collect(provider)
    message = str(caught.value)
    assert f"no model server answers at http://127.0.0.1:{port}" in message
    assert f"--server --nobrowser --port {port}" in message
    assert "llamafile_command for model 'mine'" in message
    await provider.aclose()


async def test_count_tokens_uses_tokenize_and_falls_back_when_missing() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200, json={"tokens": [1, 2, 3]})

    assert await provider_for(handler).count_tokens("a b c") == 3
    missing = provider_for(lambda r: (calls.append(r.url.path), httpx.Response(404, text="File Not Found"))[1])
    assert await missing.count_tokens("x") is None
    assert await missing.count_tokens("x") is None  # remembered: no second request
    assert calls == ["/tokenize", "/tokenize"]


async def test_a_lone_surrogate_in_the_document_is_sent_as_an_escape_not_a_crash() -> None:
    """LSP's JSON may carry a lone surrogate (an editor's broken buffer); UTF-8 cannot."""
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return sse_response({"content": "ok", "stop": False}, {"content": "", "stop": True})

    provider = provider_for(handler)
    assert await collect(provider, "a \ud800 b é") == "ok"
    assert b"\\ud800" in bodies[0]
    assert json.loads(bodies[0])["prompt"] == "a \ud800 b é"
    assert await collect(provider, "plain é") == "ok"
    assert "é".encode() in bodies[1]  # the common case stays compact UTF-8


async def test_one_connection_serves_edit_after_edit() -> None:
    """The end of each answer is read, so the connection goes back to the pool: against a
    remote HTTPS server, no TLS handshake per edit."""
    from support.hostile import HostileServer, answer

    server = HostileServer().start()
    try:
        server.play("/completion", answer("a", "b"))
        provider = LlamafileProvider(ModelConfig(title="m", api_base=server.url))
        try:
            for _ in range(3):
                assert await collect(provider) == "ab"
        finally:
            await provider.aclose()
        assert server.connections == 1
    finally:
        server.stop()


async def test_a_cancel_always_stops_a_fast_stream() -> None:
    """A model that streams as fast as it can: each cancel must end the read and close the
    connection, never be swallowed by a read that completed at the same moment (it was,
    with asyncio.wait_for before 3.12, and the Cancel button in VS Code did nothing)."""
    from support.hostile import HostileServer, event, head

    def flood(_seen: object) -> Iterator[object]:
        yield head()
        while True:
            yield event({"content": "x", "stop": False})

    server = HostileServer().start()
    try:
        server.play("/completion", flood)
        model = ModelConfig(title="m", api_base=server.url, completion_options=CompletionOptions(max_tokens=10**7))
        provider = LlamafileProvider(model)
        try:
            for attempt in range(15):
                got = 0

                async def consume() -> None:
                    nonlocal got
                    async for chunk in provider.stream(Prompt("p")):
                        got += len(chunk.content)

                task = asyncio.ensure_future(consume())
                while got < 200:
                    await asyncio.sleep(0.001)
                task.cancel()
                done, _pending = await asyncio.wait({task}, timeout=3)
                assert done and task.cancelled(), f"attempt {attempt}: the cancel was swallowed"
        finally:
            await provider.aclose()
    finally:
        server.stop()
