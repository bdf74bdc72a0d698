"""What the stub generates and keeps: its state, one completion's text and token counts,
and SGLang's logprob fields. HTTP lives in ``server``; this module knows no sockets."""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from typing import Any

from sglang_ci.stub import STUB_ENGINE_NAME
from sglang_ci.stub.args import StubSettings, server_info_args
from sglang_ci.stub.bootstrap import BootstrapCheck
from sglang_ci.stub.faults import Faults
from sglang_ci.stub.metrics import StubMetrics
from sglang_ci.stub.model import StubModel, accept_length, unit_hash
from sglang_ci.stub.sanity_key import garble, loop, runs_to_length

# Simulated decode speed: long requests (the fwd_occupancy probe's 2048 tokens) take a
# few seconds, as on a GPU, so probes have something to sample; short ones stay quick.
SECONDS_PER_TOKEN = 0.002


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
        self.gpu_ids: list[str] = []  # stub.gpu_set: the GPUs a real server would take

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
            stub_gpu_ids=self.gpu_ids,
            internal_states=[internal],
        )
        return info

    def begin_generation(self) -> int:
        """Count a generation request (its number is returned); applies the crash fault."""
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
        return count

    def answer_delay(self) -> float:
        """The slow_answer fault's delay, none while at most slow_after requests came in."""
        with self.lock:
            late = self.generation_requests > self.faults.slow_after
        return self.faults.slow_answer if late else 0.0

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


def _faulty(faults: Faults, text: str) -> str:
    if faults.gibberish:
        print("[stub] fault gibberish: answering token salad", flush=True)
        return garble(text)
    if faults.looping:
        print("[stub] fault looping: answering one n-gram over and over", flush=True)
        return loop(text)
    return text


class ContextTooLong(ValueError):
    """SGLang's tokenizer manager refuses it (HTTP 400) with this message."""


def check_context(context_length: int, prompt_tokens: int, max_new_tokens: int) -> None:
    """TokenizerManager._validate_one_request (6ed5780c4f): the input must be shorter than
    the context length, and input + max_new_tokens must fit in it."""
    if prompt_tokens >= context_length:
        raise ContextTooLong(
            f"The input ({prompt_tokens} tokens) is longer than the model's context length"
            f" ({context_length} tokens)."
        )
    if prompt_tokens + max_new_tokens > context_length:
        raise ContextTooLong(
            "Requested token count exceeds the model's maximum context length of"
            f" {context_length} tokens. You requested a total of"
            f" {prompt_tokens + max_new_tokens} tokens: {prompt_tokens} tokens from the input"
            f" messages and {max_new_tokens} tokens for the completion. Please reduce the"
            " number of tokens in the input messages or the completion to fit within the"
            " limit."
        )


def generate_one(state: StubState, prompt: str, params: dict[str, Any]) -> dict[str, Any]:
    """One completion: the answer-key text, cut by stop strings and max tokens."""
    started = time.monotonic()
    max_tokens = int(params.get("max_new_tokens", params.get("max_tokens", 128)) or 0)
    check_context(state.settings.context_length, len(_tokens(prompt)), max_tokens)
    if params.get("ignore_eos") or runs_to_length(prompt):
        text = " ".join(f"tok{index}" for index in range(max_tokens))
        finish: dict[str, Any] | None = {"type": "length", "length": max_tokens}
    else:
        answer = _faulty(state.faults, state.model.complete(prompt))
        text, finish = _apply_stop(answer, params.get("stop"))
    words = _tokens(text)
    if len(words) > max_tokens:
        text = " " + " ".join(words[:max_tokens]) if max_tokens else ""
        finish = {"type": "length", "length": max_tokens}
    completion_tokens = min(len(words), max_tokens)
    delay = state.answer_delay()
    if completion_tokens:
        state.metrics.decoding.set()
        time.sleep(completion_tokens * SECONDS_PER_TOKEN + delay)
        state.metrics.decoding.clear()
    elif delay:
        time.sleep(delay)
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


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}  # fmt: skip


def chat_prompt(messages: object) -> str | None:
    """The last user message's text (a string, or OpenAI content parts of type text)."""
    for message in reversed(messages if isinstance(messages, list) else []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            parts = [p.get("text", "") for p in content if isinstance(p, dict)]
            return "".join(str(part) for part in parts)
        return str(content or "")
    return None


_PIECE_RE = re.compile(r"\s*\S+")


def stream_events(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A finished /generate result as SGLang streams it: one chunk per token, each with
    the whole text so far (SGLang's default; --incremental-streaming-output would send
    deltas) and the finish reason on the last chunk only."""
    text, meta = result["text"], result["meta_info"]
    pieces = _PIECE_RE.findall(text) or [""]
    pieces[-1] += text[len("".join(pieces)) :]  # trailing whitespace, if any
    events, so_far = [], ""
    for count, piece in enumerate(pieces, start=1):
        so_far += piece
        last = count == len(pieces)
        chunk_meta = {**meta, "completion_tokens": min(count, meta["completion_tokens"]),
                      "finish_reason": meta["finish_reason"] if last else None}  # fmt: skip
        events.append({"text": so_far, "meta_info": chunk_meta})
    return events
