"""request_options on real sockets: a proxy, TLS with a private CA, verify_ssl."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fakeserver import FakeModelServer, completion
from support.ports import free_port

from llamafile_ls.config import ModelConfig, RequestOptions
from llamafile_ls.errors import ServerUnreachable
from llamafile_ls.providers.base import Prompt
from llamafile_ls.providers.llamacpp import LlamaCppProvider as LlamafileProvider


async def answer(model: ModelConfig) -> str:
    provider = LlamafileProvider(model)
    try:
        return "".join([chunk.content async for chunk in provider.stream(Prompt("p"))])
    finally:
        await provider.aclose()


async def test_requests_go_through_the_configured_proxy(fake_server: FakeModelServer) -> None:
    fake_server.route("http://llamafile.invalid:8080/completion", completion("via ", "proxy"))
    model = ModelConfig(
        title="m", api_base="http://llamafile.invalid:8080", request_options=RequestOptions(proxy=fake_server.url)
    )
    assert await answer(model) == "via proxy"
    assert fake_server.requests[0].path == "http://llamafile.invalid:8080/completion"


async def test_a_proxy_that_is_down_is_named(tmp_path: Path) -> None:
    proxy = f"http://127.0.0.1:{free_port()}"
    model = ModelConfig(
        title="m", api_base="http://llamafile.invalid:8080", request_options=RequestOptions(proxy=proxy)
    )
    with pytest.raises(ServerUnreachable, match=rf"through the proxy {proxy} \(request_options.proxy\)"):
        await answer(model)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[FakeModelServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    server = FakeModelServer(tls=context).start()
    server.route("/completion", completion("over ", "tls"))
    yield server
    server.stop()


async def test_tls_with_the_servers_ca_bundle(tls_server: FakeModelServer, certificate: tuple[Path, Path]) -> None:
    options = RequestOptions(ca_bundle_path=str(certificate[0]))
    assert await answer(ModelConfig(title="m", api_base=tls_server.url, request_options=options)) == "over tls"


async def test_tls_without_verification(tls_server: FakeModelServer) -> None:
    options = RequestOptions(verify_ssl=False)
    assert await answer(ModelConfig(title="m", api_base=tls_server.url, request_options=options)) == "over tls"


async def test_an_unverifiable_certificate_says_what_to_set(tls_server: FakeModelServer) -> None:
    with pytest.raises(
        ServerUnreachable,
        match=r"TLS connection to https://127.0.0.1:\d+ failed \(.*certificate.*\); set request_options.ca_bundle_path",
    ):
        await answer(ModelConfig(title="m", api_base=tls_server.url))
