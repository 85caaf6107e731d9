"""Qwen2.5-Coder-0.5B-Instruct on the real llama-server: fill-in-the-middle and chat both answer.

The model is small, so these check the shape of the answers, never their quality.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import RealServer

pytestmark = pytest.mark.real

PREFIX = 'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n    a, b = 0, 1\n    '
SUFFIX = "\n    return a\n\n\nprint(fibonacci(10))\n"


def test_qwen_fills_in_the_middle_and_answers_a_chat(real_qwen_server: RealServer) -> None:
    with httpx.Client(base_url=real_qwen_server.url, timeout=120) as client:
        infill = client.post(
            "/infill", json={"input_prefix": PREFIX, "input_suffix": SUFFIX, "n_predict": 48, "temperature": 0}
        )
        assert infill.status_code == 200, infill.text
        body = infill.json()
        assert isinstance(body["content"], str)
        assert body["content"].strip()
        assert body["tokens_predicted"] > 0

        chat = client.post(
            "/v1/chat/completions",
            json={
                "messages": [{"role": "user", "content": "Write a Python function that reverses a string."}],
                "max_tokens": 64,
                "temperature": 0,
            },
        )
        assert chat.status_code == 200, chat.text
        (choice,) = chat.json()["choices"]
        assert choice["message"]["role"] == "assistant"
        assert isinstance(choice["message"]["content"], str)
        assert choice["message"]["content"].strip()
