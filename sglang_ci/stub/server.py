"""The stub's HTTP endpoints, shaped like SGLang's for everything our suites call."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sglang_ci.stub import STUB_ENGINE_NAME
from sglang_ci.stub.args import StubSettings, server_info_args
from sglang_ci.stub.bootstrap import BootstrapCheck
from sglang_ci.stub.faults import Faults
from sglang_ci.stub.metrics import StubMetrics
from sglang_ci.stub.model import StubModel, accept_length, unit_hash

# Simulated decode speed: long requests (the fwd_occupancy probe's 2048 tokens) take a
# few seconds, as on a GPU, so probes have something to sample; short ones stay quick.
SECONDS_PER_TOKEN = 0.002
OPEN_PATHS = {"/health", "/metrics"}  # answered without the API key, as SGLang does


class StubState:
    def __init__(self, settings: StubSettings, args: dict[str, Any], faults: Faults) -> None:
        self.settings = settings
        self.args = args
        self.faults = faults
        self.model = StubModel.from_env(settings.deterministic)
        self.metrics = StubMetrics(
            settings.served_model_name, settings.tp_size, self.model.seed, settings.enable_metrics
        )
        self.bootstrap = BootstrapCheck(settings.disaggregation_mode, settings.bootstrap_port)
        self.ready = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.generation_requests = 0

    def server_info(self) -> dict[str, Any]:
        info = server_info_args(self.args)
        internal: dict[str, Any] = {"engine": STUB_ENGINE_NAME}
        if self.settings.speculative_algorithm:
            internal["avg_spec_accept_length"] = accept_length(
                self.settings.speculative_num_steps,
                self.settings.speculative_num_draft_tokens,
                self.model.seed,
                self.settings.deterministic,
            )
        info.update(
            version=f"{STUB_ENGINE_NAME} (protocol stand-in, not a model)",
            engine=STUB_ENGINE_NAME,
            stub=True,
            internal_states=[internal],
        )
        return info

    def begin_generation(self) -> None:
        """Count a generation request; applies the crash fault."""
        with self.lock:
            self.generation_requests += 1
            self.in_flight += 1
            count = self.generation_requests
            self.metrics.running.labels(self.settings.served_model_name).set(self.in_flight)
        crash_after = self.faults.crash_after
        if crash_after is not None and count > crash_after:
            # The wall-clock instant, for benchmarks/server_death.py's death-to-verdict time.
            print(f"[stub] fault crash_after={crash_after}: crashing on request {count} at"
                  f" {time.time():.6f}", flush=True)  # fmt: skip
            os._exit(1)

    def end_generation(self) -> None:
        with self.lock:
            self.in_flight -= 1
            self.metrics.running.labels(self.settings.served_model_name).set(self.in_flight)


def _tokens(text: str) -> list[str]:
    return text.split()


def _apply_stop(text: str, stop: object) -> tuple[str, dict[str, Any] | None]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])  # type: ignore[call-overload]
    cut = None
    matched = None
    for candidate in stops:
        where = text.find(candidate)
        if where != -1 and (cut is None or where < cut):
            cut, matched = where, candidate
    if cut is None:
        return text, None
    return text[:cut], {"type": "stop", "matched": matched}


def generate_one(state: StubState, prompt: str, params: dict[str, Any]) -> dict[str, Any]:
    """One completion: the answer-key text, cut by stop strings and max tokens."""
    started = time.monotonic()
    max_tokens = int(params.get("max_new_tokens", params.get("max_tokens", 128)) or 0)
    if params.get("ignore_eos"):
        text = " ".join(f"tok{index}" for index in range(max_tokens))
        finish: dict[str, Any] | None = {"type": "length", "length": max_tokens}
    else:
        text, finish = _apply_stop(state.model.complete(prompt), params.get("stop"))
    words = _tokens(text)
    if len(words) > max_tokens:
        text = " " + " ".join(words[:max_tokens]) if max_tokens else ""
        finish = {"type": "length", "length": max_tokens}
    completion_tokens = min(len(words), max_tokens)
    if completion_tokens:
        state.metrics.decoding.set()
        time.sleep(completion_tokens * SECONDS_PER_TOKEN + state.faults.slow_answer)
        state.metrics.decoding.clear()
    elif state.faults.slow_answer:
        time.sleep(state.faults.slow_answer)
    prompt_tokens = len(_tokens(prompt))
    elapsed = time.monotonic() - started
    state.metrics.record(prompt_tokens, completion_tokens, elapsed)
    return {
        "text": text,
        "meta_info": {
            "id": uuid.uuid4().hex,
            "finish_reason": finish or {"type": "stop", "matched": None},
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cached_tokens": 0,
            "e2e_latency": elapsed,
        },
    }


def add_logprobs(
    state: StubState, prompt: str, result: dict[str, Any], with_text: bool, start: int
) -> None:
    """SGLang's logprob fields: [logprob, token_id, text-or-None] per token, the prompt's
    from ``logprob_start_len`` on (the very first prompt token has no logprob)."""
    prompt_tokens = _tokens(prompt)
    ending = state.model.ending_logprob(prompt)
    ending_from = len(prompt_tokens) - ending[0] if ending else len(prompt_tokens)

    def entry(token: str, position: int) -> list[Any]:
        if position == 0:
            logprob = None
        elif ending and position >= ending_from:
            logprob = ending[1]
        else:
            logprob = state.model.token_logprob(token, position)
        token_id = int(unit_hash("id", token) * 128_000)
        return [logprob, token_id, token if with_text else None]

    meta = result["meta_info"]
    meta["input_token_logprobs"] = [
        entry(token, i) for i, token in enumerate(prompt_tokens) if i >= start
    ]
    meta["output_token_logprobs"] = [
        entry(token, len(prompt_tokens) + i) for i, token in enumerate(_tokens(result["text"]))
    ]


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
             "root": name},
        ]})  # fmt: skip

    def metrics(self, _body: dict[str, Any]) -> None:
        state = self.server.state
        if not state.settings.enable_metrics:
            self._send(HTTPStatus.NOT_FOUND, {"detail": "Not Found (start with --enable-metrics)"})
            return
        self._send(HTTPStatus.OK, state.metrics.exposition(), "text/plain; version=0.0.4")

    def _generation(self, run: Any, body: dict[str, Any]) -> None:
        state = self.server.state
        if not state.ready.is_set():
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "server is starting"})
            return
        problem = state.bootstrap.problem(body)
        if problem:  # SGLang's decode aborts the request when the KV transfer cannot start
            print(f"[stub] {problem}", flush=True)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": problem})
            return
        state.begin_generation()
        try:
            if state.faults.error_rate and unit_hash(uuid.uuid4().hex) < state.faults.error_rate:
                print(f"[stub] fault error_rate={state.faults.error_rate:g}: answering 500",
                      flush=True)  # fmt: skip
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "stub fault: error_rate"})
                return
            if state.faults.slow_answer:
                print(f"[stub] fault slow_answer={state.faults.slow_answer:g}: answering late",
                      flush=True)  # fmt: skip
            self._send(HTTPStatus.OK, run())
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
                "choices": choices,
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
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
}


class StubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # An eval opens up to 128 connections at once; the default backlog of 5 refuses some.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], state: StubState) -> None:
        self.state = state
        super().__init__(address, StubHandler)
