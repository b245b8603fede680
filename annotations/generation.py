"""LLM clients for completion generation. No Django here: `annotations/generating.py` drives them.

`ChatCompletionsClient` speaks the OpenAI-compatible `/chat/completions` API (vLLM, Ollama,
llama.cpp, TGI, OpenAI): one request per completion (n=1, which every such server supports), a
timeout per request, and retries with exponential backoff and jitter on 429, 5xx, timeouts and
dropped connections. It is thread-safe: the job runs many requests at once from a thread pool.

`LocalTransformersClient` generates with `transformers` from a local model directory; it is the
optional `local` extra, imported only when a project's base URL is `local:/path/to/model`.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from dataclasses import asdict, dataclass, field

import httpx

RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504}
FATAL_STATUSES = {401, 403, 404}  # a wrong key, URL or model: every request would fail the same way
LOCAL_PREFIX = "local:"


@dataclass(frozen=True)
class GenerationConfig:
    base_url: str
    model: str
    api_key: str = ""
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 512
    system_prompt: str = ""
    concurrency: int = 16
    timeout_seconds: float = 60.0
    max_retries: int = 5
    backoff_seconds: float = 1.0  # first wait; doubles each retry
    max_backoff_seconds: float = 30.0
    extra: dict = field(default_factory=dict)

    def recorded_params(self) -> dict:
        """What each generated completion records about how it was made (never the API key)."""
        return {
            "temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
            "system_prompt": self.system_prompt, "base_url": self.base_url,
        }

    def public(self) -> dict:
        values = asdict(self)
        values.pop("api_key")
        return values


@dataclass(frozen=True)
class Generated:
    text: str
    model: str
    finish_reason: str | None = None
    attempts: int = 1


class GenerationError(Exception):
    """One completion could not be generated (after retries); the prompt is marked with it."""


class FatalGenerationError(GenerationError):
    """A configuration problem (bad key, URL, model): stop the whole job instead of failing every prompt."""


def backoff_delay(attempt: int, config: GenerationConfig, retry_after: str | None = None) -> float:
    """Exponential backoff with full jitter; a server's Retry-After (seconds) is honoured up to the cap."""
    if retry_after:
        try:
            return min(float(retry_after), config.max_backoff_seconds)
        except ValueError:
            pass
    ceiling = min(config.backoff_seconds * (2 ** attempt), config.max_backoff_seconds)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def normalized_text(text: str) -> str:
    """What two completions are compared by when generation looks for repeats: trimmed,
    whitespace collapsed, case-folded ("The answer." and " the  ANSWER.\n" are the same)."""
    return " ".join(text.split()).casefold()


Conversation = str | list[dict]  # a plain prompt, or a conversation's messages ({"role", "content"})


def chat_messages(prompt: Conversation, system_prompt: str) -> list[dict]:
    """The request's messages: the project's system prompt first (if any), then the prompt as one
    user message, or the whole conversation as it was imported."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
    if isinstance(prompt, list):
        return messages + [{"role": m["role"], "content": m["content"]} for m in prompt]
    return messages + [{"role": "user", "content": prompt}]


class ChatCompletionsClient:
    def __init__(self, config: GenerationConfig, sleep=time.sleep):
        self.config = config
        self._sleep = sleep
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._http = httpx.Client(
            base_url=config.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(config.timeout_seconds),
            # Requests are small and latency-bound: send them at once instead of letting Nagle hold
            # the body back until the server ACKs the headers.
            transport=httpx.HTTPTransport(
                limits=httpx.Limits(max_connections=config.concurrency, max_keepalive_connections=config.concurrency),
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            ),
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ChatCompletionsClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def request_body(self, prompt: Conversation, temperature: float | None = None) -> dict:
        config = self.config
        return {
            "model": config.model,
            "messages": chat_messages(prompt, config.system_prompt),
            "temperature": config.temperature if temperature is None else temperature,
            "top_p": config.top_p,
            "max_tokens": config.max_tokens,
            "n": 1,
            **config.extra,
        }

    def complete(self, prompt: Conversation, temperature: float | None = None) -> Generated:
        """One completion; `temperature` overrides the configured one (a re-ask after a repeat)."""
        body = self.request_body(prompt, temperature)
        last_error = "no attempt made"
        for attempt in range(self.config.max_retries + 1):
            retry_after = None
            try:
                response = self._http.post("chat/completions", json=body)
            except httpx.TimeoutException:
                last_error = f"timed out after {self.config.timeout_seconds:g} s"
            except httpx.TransportError as exc:
                last_error = f"connection failed: {exc.__class__.__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return self._parse(response, attempt + 1)
                last_error = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code in FATAL_STATUSES:
                    raise FatalGenerationError(f"the LLM server refused the request ({last_error})")
                if response.status_code not in RETRY_STATUSES and response.status_code < 500:
                    raise GenerationError(last_error)
                retry_after = response.headers.get("retry-after")
            if attempt < self.config.max_retries:
                self._sleep(backoff_delay(attempt, self.config, retry_after))
        raise GenerationError(f"gave up after {self.config.max_retries + 1} attempts: {last_error}")

    def _parse(self, response: httpx.Response, attempts: int) -> Generated:
        try:
            payload = response.json()
            choice = payload["choices"][0]
            text = choice["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise GenerationError(f"unexpected response: {response.text[:200]}")
        if not isinstance(text, str) or not text.strip():
            raise GenerationError("the model returned an empty completion")
        return Generated(text=text.replace("\x00", ""), model=str(payload.get("model") or self.config.model),
                         finish_reason=choice.get("finish_reason"), attempts=attempts)


class LocalTransformersClient:
    """Text generation from a local model directory (`pip install .[local]`). One generation at a time."""

    def __init__(self, config: GenerationConfig):
        try:
            from transformers import pipeline  # lazy: a heavy optional dependency
        except ImportError:
            raise FatalGenerationError("the local backend needs the optional extra: pip install '.[local]'")
        self.config = config
        self.model_path = config.base_url[len(LOCAL_PREFIX):]
        self._pipeline = pipeline("text-generation", model=self.model_path)
        self._lock = threading.Lock()

    def close(self) -> None:
        pass

    def __enter__(self) -> LocalTransformersClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def complete(self, prompt: Conversation, temperature: float | None = None) -> Generated:
        config = self.config
        with self._lock:
            try:
                output = self._pipeline(
                    chat_messages(prompt, config.system_prompt), max_new_tokens=config.max_tokens,
                    do_sample=True, temperature=config.temperature if temperature is None else temperature,
                    top_p=config.top_p,
                )
            except Exception as exc:  # any model failure fails this completion, not the job
                raise GenerationError(f"local generation failed: {exc}")
        generated = output[0]["generated_text"]
        text = generated[-1]["content"] if isinstance(generated, list) else str(generated)
        if not text.strip():
            raise GenerationError("the model returned an empty completion")
        return Generated(text=text, model=config.model or self.model_path)


def make_client(config: GenerationConfig) -> ChatCompletionsClient | LocalTransformersClient:
    if config.base_url.startswith(LOCAL_PREFIX):
        return LocalTransformersClient(config)
    return ChatCompletionsClient(config)
