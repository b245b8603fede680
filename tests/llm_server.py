"""A small OpenAI-compatible server for tests and benchmarks: POST /v1/chat/completions on 127.0.0.1.

It answers after `latency` seconds, counts requests and the most that were in flight at once, and
can be told to fail: `fail_with([429, 500])` answers the next requests with those statuses,
`hang = True` never answers in time, `fail_after = k` answers 500 to every request after the k-th.
`repeats_below_temperature = t` makes it answer like greedy decoding: a request at a temperature
below t gets the same text for the same prompt every time (in changing case and spacing, the same
once normalized); `float("inf")` repeats at any temperature.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeLLM:
    def __init__(self, latency: float = 0.0, model: str = "fixture-model"):
        self.latency = latency
        self.model = model
        self.hang = False
        self.hang_seconds = 5.0
        self.fail_after: int | None = None
        self.repeats_below_temperature: float | None = None
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self.requests: list[dict] = []
        self.authorizations: list[str | None] = []
        self.statuses: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.answered = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> "FakeLLM":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeLLM":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def fail_with(self, statuses: list[int]) -> None:
        with self._lock:
            self._failures.extend(statuses)

    def _decide(self, body: dict, authorization: str | None) -> tuple[int, int]:
        """(status, the request's number): numbered under the lock, so that two requests in
        flight at once never share a number (and so never get the same answer)."""
        with self._lock:
            self.requests.append(body)
            number = len(self.requests)
            self.authorizations.append(authorization)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self._failures:
                return self._failures.pop(0), number
            if self.fail_after is not None and self.answered >= self.fail_after:
                return 500, number
            self.answered += 1
            return 200, number

    def _done(self, status: int) -> None:
        with self._lock:
            self.in_flight -= 1
            self.statuses.append(status)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
            # TCP_NODELAY, as uvicorn and other real servers set: headers and body go out as two
            # writes, and with Nagle on the body would wait ~40 ms for the client's delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": "not found"}})
                status, number = fake._decide(body, self.headers.get("Authorization"))
                try:
                    time.sleep(fake.hang_seconds if fake.hang else fake.latency)
                    if status != 200:
                        return self._send(status, {"error": {"message": f"fixture says {status}"}})
                    prompt = body["messages"][-1]["content"]
                    content = f"answer {number} to: {prompt}"
                    repeats_below = fake.repeats_below_temperature
                    if repeats_below is not None and body.get("temperature", 1.0) < repeats_below:
                        # The same answer, written a little differently each time.
                        content = (f"The one answer to: {prompt}" if number % 2 else
                                   f"  the ONE answer  to:\n{prompt} ")
                    return self._send(200, {
                        "id": f"chatcmpl-{number}", "object": "chat.completion", "model": fake.model,
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": content}}],
                    })
                finally:
                    fake._done(status)

            def _send(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and went away

        return Handler


if __name__ == "__main__":
    # For benchmarks: serve in a separate process, so the server does not share the client's GIL.
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.2)
    options = parser.parse_args()
    server = FakeLLM(latency=options.latency)
    print(server.base_url, flush=True)
    server._server.serve_forever()
