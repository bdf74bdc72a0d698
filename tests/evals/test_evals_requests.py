"""The evals' requests against a scripted HTTP server in this process: bodies, retries,
waits, timeouts and data, each compared with what SGLang's own clients do. Expected
values come from reading SGLang (file@commit in each test), not from our code."""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from sglang_ci.config.errors import UsageError
from sglang_ci.data import GSM8K_SAMPLE, HELLASWAG_SAMPLE
from sglang_ci.evals import client, data, gsm8k, hellaswag
from sglang_ci.evals.cli import add_eval_parser
from sglang_ci.evals.data import GSM8K, HELLASWAG, load_lines
from sglang_ci.evals.records import EvalOutcome, SampleRecord
from sglang_ci.evals.run import all_failed_is_error
from sglang_ci.launch.http_client import make_session
from sglang_ci.outcome.errors import FatalError
from sglang_ci.outcome.kinds import FailureKind

Reply = tuple[int, Any]  # (status, JSON body)


@dataclass
class Scripted:
    """Answers each POST with ``reply(path, body)``; records every request."""

    reply: Callable[[str, Any], Reply]
    seen: list[tuple[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[str, Any], Reply]], Scripted]]:
    servers: list[ThreadingHTTPServer] = []

    def start(reply: Callable[[str, Any], Reply]) -> Scripted:
        scripted = Scripted(reply)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def answer(self, status: int, payload: Any) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self.answer(200, {"data": [{"id": "served/model"}]})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                scripted.seen.append((self.path, body))
                self.answer(*scripted.reply(self.path, body))

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        scripted.url = f"http://127.0.0.1:{server.server_address[1]}"
        return scripted

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class Waits(list[float]):
    """Stands in for the waits between sends: records them, never sleeps."""

    def __call__(self, seconds: float) -> bool:
        self.append(round(seconds, 6))
        return False


def always(status: int, payload: Any = None) -> Callable[[str, Any], Reply]:
    return lambda _path, _body: (status, payload if payload is not None else {"error": "x"})


def run_complete(url: str, waits: Waits, draw: float = 0.0) -> str:
    body = client.completion_body("m", "p", 512, gsm8k.STOP)
    with make_session(connect_retries=0) as session:
        return client.complete(session, url, body, timeout=30, cancel=threading.Event(),
                               wait=waits, draw=lambda: draw)  # fmt: skip


# --------------------------------------------------------------------- GSM8K requests

LINES = [{"question": f"q{i}?", "answer": f"step\n#### {i}"} for i in range(8)]


def test_gsm8k_request_body_is_the_samplers(serve: Any) -> None:
    # run_eval.py@9040feebd8 run_eval_once: temperature 0.0, top_p 1.0 (getattr defaults),
    # stop ["Question", "Assistant:", "<|separator|>"]; the seed tests pass max_tokens=512.
    # CompletionSampler.__call__ (simple_eval_common.py@9040feebd8) calls
    # completions.create(model, prompt, temperature, top_p, max_tokens, stop), and openai
    # 2.6.1 leaves unset keys (stream...) off the body.
    server = serve(always(200, {"choices": [{"text": " 3"}]}))
    with make_session() as session:
        outcome = gsm8k.run_gsm8k(session, server.url, LINES, num_examples=1, num_shots=3,
                                  threads=1, stop=threading.Event())  # fmt: skip
    prompt = "".join(f"Question: q{i}?\nAnswer: step\n#### {i}\n\n" for i in range(3))
    assert server.seen == [("/v1/completions", {
        "model": "served/model", "prompt": prompt + "Question: q3?\nAnswer:", "max_tokens": 512,
        "stop": ["Question", "Assistant:", "<|separator|>"], "temperature": 0.0, "top_p": 1.0,
    })]  # fmt: skip
    assert outcome.records[0].correct


def test_a_5xx_is_sent_18_times_with_the_two_backoffs(serve: Any) -> None:
    # openai 2.6.1 _base_client.py: 1 + max_retries(2) sends, waits min(0.5 * 2**n, 8) *
    # (1 - 0.25 * random()); CompletionSampler: 6 tries, time.sleep(2**trial) between.
    server = serve(always(500))
    waits = Waits()
    with pytest.raises(client.RequestFailed) as failed:
        run_complete(server.url, waits)
    assert len(server.seen) == 18
    assert waits == [0.5, 1.0, 1, 0.5, 1.0, 2, 0.5, 1.0, 4, 0.5, 1.0, 8, 0.5, 1.0, 16, 0.5, 1.0]
    assert failed.value.kind is FailureKind.TRANSIENT_HTTP and failed.value.status == 500


def test_client_waits_carry_openais_jitter(serve: Any) -> None:
    server = serve(always(503))
    waits = Waits()
    with pytest.raises(client.RequestFailed):
        run_complete(server.url, waits, draw=1.0)  # random() at its top: 25 % shorter
    assert waits[:3] == [0.375, 0.75, 1]


def test_429_is_retried_by_the_client_until_an_answer(serve: Any) -> None:
    replies = iter([(429, {}), (429, {}), (200, {"choices": [{"text": "42"}]})])
    server = serve(lambda _path, _body: next(replies))
    waits = Waits()
    assert run_complete(server.url, waits) == "42"
    assert len(server.seen) == 3 and waits == [0.5, 1.0]


def test_a_400_is_the_empty_output_at_once(serve: Any) -> None:
    # CompletionSampler: `except openai.BadRequestError: return ""`; no retry, no wait.
    server = serve(always(400, {"error": "input is longer than the context length"}))
    waits = Waits()
    with pytest.raises(client.RequestFailed) as failed:
        run_complete(server.url, waits)
    assert (len(server.seen), waits, failed.value.status) == (1, [], 400)
    with make_session() as session:
        outcome = gsm8k.run_gsm8k(session, server.url, LINES, num_examples=2, num_shots=3,
                                  threads=1, stop=threading.Event())  # fmt: skip
    record = outcome.records[0]
    assert (record.output, record.extracted, record.correct) == ("", gsm8k.INVALID, False)
    assert "HTTP 400" in (record.error or "") and record.error_kind == "check failed"


def test_other_4xx_are_retried_by_the_sampler_only(serve: Any) -> None:
    # 404/422 are openai.APIStatusError but not BadRequestError: the sampler's `except
    # Exception` tries again; openai's _should_retry does not resend them.
    server = serve(always(404))
    waits = Waits()
    with pytest.raises(client.RequestFailed):
        run_complete(server.url, waits)
    assert len(server.seen) == 6 and waits == [1, 2, 4, 8, 16]


def test_a_malformed_answer_is_tried_again(serve: Any) -> None:
    replies = iter([(200, {"choices": []}), (200, {"choices": [{"text": None}]})])
    server = serve(lambda _path, _body: next(replies))
    waits = Waits()
    assert run_complete(server.url, waits) == ""  # `response.choices[0].text or ""`
    assert waits == [1]


class RecordingSession(requests.Session):
    timeouts: list[float | None]

    def post(self, url: Any, data: Any = None, json: Any = None, **kwargs: Any) -> Any:
        self.timeouts.append(kwargs.get("timeout"))
        return super().post(url, data=data, json=json, **kwargs)


def test_requests_wait_sglangs_3600_s(serve: Any) -> None:
    # LargerHttpxClient (simple_eval_common.py@9040feebd8): httpx.Timeout(3600), which the
    # openai client adopts as it differs from httpx's default.
    server = serve(always(200, {"choices": [{"text": "1"}]}))
    session = RecordingSession()
    session.timeouts = []
    with session:
        gsm8k.run_gsm8k(session, server.url, LINES, num_examples=2, num_shots=3, threads=1,
                        stop=threading.Event())  # fmt: skip
    assert session.timeouts == [3600.0, 3600.0]
    parser = argparse.ArgumentParser()
    add_eval_parser(parser.add_subparsers())
    assert parser.parse_args(["eval", "gsm8k", "--base-url", "u"]).request_timeout == 3600.0


def test_a_timeout_is_resent_and_named() -> None:
    # A server that accepts and never answers: openai resends a timed-out request.
    listener = socket.create_server(("127.0.0.1", 0), backlog=32)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    waits = Waits()
    try:
        session = make_session(connect_retries=0)
        with session, pytest.raises(client.RequestFailed) as failed:
            client.post_json(session, url, {}, 0.2, threading.Event(), client.SGLANG_SAMPLER,
                             waits, lambda: 0.0)  # fmt: skip
        assert failed.value.kind is FailureKind.REQUEST_TIMEOUT
        assert "0.2 s" in str(failed.value)
        assert waits == [0.5, 1.0]  # three sends, each timed out
    finally:
        listener.close()


def record(error: str | None) -> SampleRecord:
    return SampleRecord(0, "q", "", -1, 1, False, 0.0, error, "transient HTTP" if error else None)


def test_every_request_failed_is_an_error_unless_switched_to_sglangs_score() -> None:
    # SGLang's run_eval would report score 0.0 here (every output ""): the labelled switch.
    failed = EvalOutcome("gsm8k", [record("HTTP 500"), record("HTTP 500")], 1.0)
    with pytest.raises(FatalError) as caught:
        failed.require_answers()
    assert caught.value.kind is FailureKind.TRANSIENT_HTTP
    replace(failed, all_failed_is_error=False).require_answers()
    assert replace(failed, all_failed_is_error=False).score == 0.0
    EvalOutcome("gsm8k", [record("HTTP 500"), record(None)], 1.0).require_answers()
    assert all_failed_is_error({}) and not all_failed_is_error({"SGLANG_CI_ALL_FAILED": "score"})
    with pytest.raises(UsageError, match="SGLANG_CI_ALL_FAILED='zero'"):
        all_failed_is_error({"SGLANG_CI_ALL_FAILED": "zero"})


# ----------------------------------------------------------------- HellaSwag requests


def hellaswag_reply(wrong: Callable[[], bool] = lambda: False) -> Callable[[str, Any], Reply]:
    """Ending 1 scores best (or ending 2 when ``wrong()``); prompts are 50 tokens."""

    def reply(_path: str, body: Any) -> Reply:
        if isinstance(body["text"], str):
            return 200, {"meta_info": {"prompt_tokens": 50}}
        best = 2 if wrong() else 1
        return 200, [
            {"meta_info": {"input_token_logprobs": [[-1.0, 7, "@"], [-0.1 if i == best else -2.0,
                                                                      8, "w"]]}}
            for i in range(len(body["text"]))
        ]  # fmt: skip

    return reply


def hellaswag_lines() -> list[dict[str, Any]]:
    return load_lines(HELLASWAG, str(HELLASWAG_SAMPLE), {})


def test_hellaswag_requests_are_sgl_selects(serve: Any) -> None:
    # test_programs.py@1bd4f94598 test_hellaswag_select: 20 shots, questions from line 0
    # (the shots overlap them), run_batch twice; interpreter.py run_program_batch sends
    # the traced prefix (the shots) first (cache_prefix); runtime_endpoint.py select:
    # {"text", max_new_tokens 0}, then every ending with logprob_start_len prompt - 2.
    lines = hellaswag_lines()
    server = serve(hellaswag_reply())
    with make_session() as session:
        outcome = hellaswag.run_hellaswag(session, server.url, lines, num_examples=2,
                                          threads=1, stop=threading.Event())  # fmt: skip
    shots = "".join(f"{line['activity_label']}: {line['ctx']} "
                    f"{line['endings'][line['label']]}\n\n" for line in lines[:20])  # fmt: skip
    cache = {"text": shots, "sampling_params": {"max_new_tokens": 0}}
    one_pass: list[tuple[str, Any]] = [("/generate", cache)]
    for line in lines[:2]:
        prompt = shots + f"{line['activity_label']}: {line['ctx']} "
        one_pass += [
            ("/generate", {"text": prompt, "sampling_params": {"max_new_tokens": 0}}),
            ("/generate", {"text": [prompt + ending for ending in line["endings"]],
                           "sampling_params": {"max_new_tokens": 0, "temperature": 0},
                           "return_logprob": True, "return_text_in_logprobs": True,
                           "logprob_start_len": 48}),
        ]  # fmt: skip
    assert server.seen == one_pass + one_pass
    assert [r.extracted for r in outcome.records] == [1, 1]
    assert outcome.settings["second_pass_score"] == outcome.score


def test_a_failed_hellaswag_request_is_not_retried_and_ends_the_eval(serve: Any) -> None:
    # http_request (sglang/utils.py@1bd4f94598) sends once; _assert_success raises, and
    # the kit's ret["answer"] then fails the test.
    def reply(path: str, body: Any) -> Reply:
        if isinstance(body["text"], list) and body["text"][0].endswith(lines[1]["endings"][0]):
            return 500, {"error": "boom"}
        return hellaswag_reply()(path, body)

    lines = hellaswag_lines()
    server = serve(reply)
    with make_session() as session:
        outcome = hellaswag.run_hellaswag(session, server.url, lines, num_examples=3,
                                          threads=1, stop=threading.Event())  # fmt: skip
    assert len(server.seen) == 1 + 3 * 2  # one pass only, no resend
    with pytest.raises(FatalError, match="1 of 3 requests failed") as caught:
        outcome.require_answers()
    assert caught.value.kind is FailureKind.TRANSIENT_HTTP


def test_hellaswag_passes_that_disagree_fail_the_check(serve: Any) -> None:
    # test_hellaswag_select: assert np.abs(accuracy_gen - accuracy) < 0.1.
    count = {"scored": 0}

    def wrong() -> bool:
        count["scored"] += 1
        return count["scored"] > 3  # right in the first pass, wrong in the second

    server = serve(hellaswag_reply(wrong))
    lines = [dict(line, label=1) for line in hellaswag_lines()]  # ending 1 is gold
    with make_session() as session:
        outcome = hellaswag.run_hellaswag(session, server.url, lines, num_examples=3,
                                          threads=1, stop=threading.Event())  # fmt: skip
    assert outcome.score == 1.0 and outcome.settings["second_pass_score"] == 0.0
    with pytest.raises(FatalError, match="two passes disagree") as caught:
        outcome.require_answers()
    assert caught.value.kind is FailureKind.CHECK_FAILED


def test_equal_endings_pick_the_first_and_empty_text_heals() -> None:
    # preds.append(choices[i].index(ret["answer"])): the first ending equal to the chosen.
    entries: list[list[Any]] = [[-1.0, 1, "a"], [-1.0, 2, "b"]]
    better: list[list[Any]] = [[-1.0, 1, "a"], [-0.5, 2, "b"]]
    assert hellaswag.choose("p", [entries, entries, better], ["x", "y", "x"]) == 0
    # select(): s.text_.endswith(healed_token_str) holds for "", so the token is dropped.
    healed: list[list[Any]] = [[-9.0, 1, ""], [-0.2, 2, "z"]]
    plain: list[list[Any]] = [[-0.1, 1, "q"], [-1.0, 2, "z"]]
    assert hellaswag.choose("p", [plain, healed], ["x", "y"]) == 1


# ---------------------------------------------------------------------------- data


def raw_read(path: Path) -> list[dict[str, Any]]:
    """sglang.utils.read_jsonl@9040feebd8: json.loads of each line not starting with #."""
    with path.open() as handle:
        return [json.loads(line) for line in handle if not line.startswith("#")]


def test_local_data_is_the_raw_files_lines_in_order() -> None:
    assert load_lines(GSM8K, str(GSM8K_SAMPLE), {}) == raw_read(GSM8K_SAMPLE)
    assert load_lines(HELLASWAG, str(HELLASWAG_SAMPLE), {}) == raw_read(HELLASWAG_SAMPLE)


def test_comment_lines_are_skipped_as_sglang_does(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('# a comment\n{"question": "q", "answer": "#### 1"}\n')
    assert load_lines(GSM8K, str(path), {}) == [{"question": "q", "answer": "#### 1"}]


def test_default_sources_are_the_files_sglang_downloads() -> None:
    # simple_eval_gsm8k.py@9040feebd8 GSM8K_URL (same in simple_eval_mixed_prefix_gsm8k.py
    # @6ed5780c4f); test_programs.py@1bd4f94598 test_hellaswag_select's url.
    assert GSM8K.url == ("https://raw.githubusercontent.com/openai/grade-school-math/master/"
                         "grade_school_math/data/test.jsonl")  # fmt: skip
    assert HELLASWAG.url == ("https://raw.githubusercontent.com/rowanz/hellaswag/master/data/"
                             "hellaswag_val.jsonl")  # fmt: skip


def test_the_download_is_verified_cached_and_read_raw(tmp_path: Path) -> None:
    content = GSM8K_SAMPLE.read_bytes()
    gets: list[str] = []

    class Files(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            pass

        def do_GET(self) -> None:
            gets.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/data/test.jsonl"
    try:
        source = replace(GSM8K, url=url, sha256=hashlib.sha256(content).hexdigest())
        env = {data.CACHE_ENV: str(tmp_path / "cache")}
        for _ in range(2):
            assert load_lines(source, None, env) == raw_read(GSM8K_SAMPLE)
        assert gets == ["/data/test.jsonl"]  # the second read came from the cache
        other = replace(source, sha256="0" * 64)
        with pytest.raises(UsageError, match="SHA-256 differs"):
            load_lines(other, None, {data.CACHE_ENV: str(tmp_path / "other")})
    finally:
        server.shutdown()
        server.server_close()
