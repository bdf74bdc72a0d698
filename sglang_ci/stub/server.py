"""The stub's HTTP endpoints, shaped like SGLang's for everything our suites call."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sglang_ci.stub import STUB_ENGINE_NAME
from sglang_ci.stub.generation import (
    ContextTooLong,
    StubState,
    add_logprobs,
    chat_prompt,
    generate_one,
    stream_events,
    usage,
)
from sglang_ci.stub.model import unit_hash

OPEN_PATHS = {"/health", "/metrics"}  # answered without the API key, as SGLang does


class StubHandler(BaseHTTPRequestHandler):
    server: StubHTTPServer
    protocol_version = "HTTP/1.1"

    # ------------------------------------------------------------ plumbing

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the log tail that failures show

    def _send(self, status: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        parsed = json.loads(self.rfile.read(length))
        return parsed if isinstance(parsed, dict) else {}

    def _authorized(self, path: str) -> bool:
        key = self.server.state.settings.api_key
        if key is None or path in OPEN_PATHS:
            return True
        return self.headers.get("Authorization") == f"Bearer {key}"

    def _route(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        if not self._authorized(path):
            self._send(HTTPStatus.UNAUTHORIZED, {"error": "Unauthorized"})
            return
        try:
            body = self._body() if method == "POST" else {}
        except ValueError:
            self._send(HTTPStatus.BAD_REQUEST, {"error": "body is not JSON"})
            return
        handler = ROUTES.get(path)
        if handler is None:
            self._send(HTTPStatus.NOT_FOUND, {"detail": "Not Found"})
            return
        handler(self, body)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    # ------------------------------------------------------------ endpoints

    def health(self, _body: dict[str, Any]) -> None:
        if self.server.state.ready.is_set():
            self._send(HTTPStatus.OK, b"", "text/plain")
        else:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "server is starting"})

    def flush_cache(self, _body: dict[str, Any]) -> None:
        state = self.server.state
        with state.lock:
            busy = state.in_flight
        if busy:
            self._send(HTTPStatus.BAD_REQUEST, {"error": f"{busy} requests are running"})
        else:
            state.model.next_epoch()
            self._send(HTTPStatus.OK, b"Cache flushed.\n", "text/plain")

    def server_info(self, _body: dict[str, Any]) -> None:
        self._send(HTTPStatus.OK, self.server.state.server_info())

    def model_info(self, _body: dict[str, Any]) -> None:
        settings = self.server.state.settings
        self._send(HTTPStatus.OK, {
            "model_path": settings.model_path, "tokenizer_path": settings.model_path,
            "is_generation": True, "engine": STUB_ENGINE_NAME,
        })  # fmt: skip

    def models(self, _body: dict[str, Any]) -> None:
        name = self.server.state.settings.served_model_name
        self._send(HTTPStatus.OK, {"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": STUB_ENGINE_NAME,
             "root": name, "max_model_len": self.server.state.settings.context_length},
        ]})  # fmt: skip

    def metrics(self, _body: dict[str, Any]) -> None:
        state = self.server.state
        if not state.settings.enable_metrics:
            self._send(HTTPStatus.NOT_FOUND, {"detail": "Not Found (start with --enable-metrics)"})
            return
        self._send(HTTPStatus.OK, state.metrics.exposition(), "text/plain; version=0.0.4")

    def _send_events(self, events: list[dict[str, Any]]) -> None:
        """Server-sent events as SGLang's streaming /generate writes them: one
        ``data: {json}`` per chunk, then ``data: [DONE]``; chunked, so the connection
        stays usable (HTTP/1.1 keep-alive)."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for payload in [*(json.dumps(event) for event in events), "[DONE]"]:
            data = f"data: {payload}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    def _generation(
        self, run: Callable[[], Any], body: dict[str, Any], stream: bool = False
    ) -> None:
        state = self.server.state
        if not state.ready.is_set():
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "server is starting"})
            return
        problem = state.bootstrap.problem(body)
        if problem:  # SGLang's decode aborts the request when the KV transfer cannot start
            print(f"[stub] {problem}", flush=True)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": problem})
            return
        count = state.begin_generation()
        try:
            if count <= state.faults.fail_first:
                print(f"[stub] fault fail_first={state.faults.fail_first}: answering 500 to"
                      f" request {count}", flush=True)  # fmt: skip
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "stub fault: fail_first"})
                return
            if state.faults.html_answers:
                self._send(HTTPStatus.OK, b"<html><body>502 Bad Gateway</body></html>", "text/html")
                return
            if state.faults.error_rate and unit_hash(uuid.uuid4().hex) < state.faults.error_rate:
                print(f"[stub] fault error_rate={state.faults.error_rate:g}: answering 500",
                      flush=True)  # fmt: skip
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "stub fault: error_rate"})
                return
            if state.faults.slow_answer and count > state.faults.slow_after:
                print(f"[stub] fault slow_answer={state.faults.slow_answer:g}: answering late",
                      flush=True)  # fmt: skip
            try:
                answer = run()
            except ContextTooLong as error:  # SGLang answers a ValueError with 400
                refusal = {"object": "error", "message": str(error), "type": "BadRequestError",
                           "code": 400}  # fmt: skip
                self._send(HTTPStatus.BAD_REQUEST, refusal)
                return
            if stream:
                self._send_events(answer)
            else:
                self._send(HTTPStatus.OK, answer)
        finally:
            state.end_generation()

    def generate(self, body: dict[str, Any]) -> None:
        state = self.server.state
        params = dict(body.get("sampling_params") or {})
        texts = body.get("text")
        if texts is None and body.get("input_ids") is not None:
            ids = body["input_ids"]
            texts = (
                [" ".join(map(str, row)) for row in ids]
                if ids and isinstance(ids[0], list)
                else " ".join(map(str, ids))
            )
        single = not isinstance(texts, list)
        prompts = [str(texts or "")] if single else [str(t) for t in texts or []]
        if body.get("stream"):
            if not single or body.get("return_logprob"):
                self._send(HTTPStatus.BAD_REQUEST, {"error": "the stub streams one prompt, no"
                                                    " logprobs"})  # fmt: skip
                return
            self._generation(lambda: stream_events(generate_one(state, prompts[0], params)), body,
                             True)  # fmt: skip
            return

        def run() -> Any:
            results = []
            for prompt in prompts:
                result = generate_one(state, prompt, params)
                if body.get("return_logprob"):
                    add_logprobs(state, prompt, result, bool(body.get("return_text_in_logprobs")),
                                 int(body.get("logprob_start_len") or 0))  # fmt: skip
                results.append(result)
            return results[0] if single else results

        self._generation(run, body)

    def completions(self, body: dict[str, Any]) -> None:
        state = self.server.state
        prompt = body.get("prompt", "")
        prompts = prompt if isinstance(prompt, list) else [prompt]
        params = {
            "max_new_tokens": body.get("max_tokens", 16),
            "stop": body.get("stop"),
            "ignore_eos": body.get("ignore_eos", False),
        }

        def run() -> Any:
            choices, prompt_tokens, completion_tokens = [], 0, 0
            for index, text in enumerate(prompts):
                result = generate_one(state, str(text), params)
                meta = result["meta_info"]
                prompt_tokens += meta["prompt_tokens"]
                completion_tokens += meta["completion_tokens"]
                finish = "length" if meta["finish_reason"]["type"] == "length" else "stop"
                choices.append(
                    {
                        "index": index,
                        "text": result["text"],
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                )
            return {
                "id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion",
                "created": int(time.time()), "model": state.settings.served_model_name,
                "choices": choices, "usage": usage(prompt_tokens, completion_tokens),
            }  # fmt: skip

        self._generation(run, body)

    def chat_completions(self, body: dict[str, Any]) -> None:
        """OpenAI chat, non-streaming: SGLang's response shape. The stub has no chat
        template; it answers the last user message from its key."""
        state = self.server.state
        if body.get("stream"):
            self._send(HTTPStatus.BAD_REQUEST, {"error": "the stub answers chat unstreamed"})
            return
        prompt = chat_prompt(body.get("messages"))
        if prompt is None:
            self._send(HTTPStatus.BAD_REQUEST, {"error": "messages: no user message"})
            return
        limit = body.get("max_completion_tokens") or body.get("max_tokens") or 128
        params = {"max_new_tokens": limit, "stop": body.get("stop")}

        def run() -> Any:
            result = generate_one(state, prompt, params)
            meta = result["meta_info"]
            return {
                "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
                "created": int(time.time()), "model": state.settings.served_model_name,
                "choices": [{
                    "index": 0, "logprobs": None,
                    "message": {"role": "assistant", "content": result["text"]},
                    "finish_reason": "length" if meta["finish_reason"]["type"] == "length"
                    else "stop",
                }],
                "usage": usage(meta["prompt_tokens"], meta["completion_tokens"]),
            }  # fmt: skip

        self._generation(run, body)


ROUTES = {
    "/health": StubHandler.health,
    "/health_generate": StubHandler.health,
    "/flush_cache": StubHandler.flush_cache,
    "/server_info": StubHandler.server_info,
    "/get_server_info": StubHandler.server_info,
    "/model_info": StubHandler.model_info,
    "/get_model_info": StubHandler.model_info,
    "/v1/models": StubHandler.models,
    "/metrics": StubHandler.metrics,
    "/generate": StubHandler.generate,
    "/v1/completions": StubHandler.completions,
    "/v1/chat/completions": StubHandler.chat_completions,
}


class StubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # An eval opens up to 128 connections at once; the default backlog of 5 refuses some.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], state: StubState) -> None:
        self.state = state
        super().__init__(address, StubHandler)
