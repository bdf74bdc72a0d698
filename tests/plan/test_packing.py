"""Packing's plan side: the scheduler (plan/packing.py), `pack-plan`, the stage keys and
the GPU-seconds sizing of a packed stage's partitions. Pure: no process starts."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest

from sglang_ci.cli import main_exit_code
from sglang_ci.config.errors import UsageError
from sglang_ci.plan.packing import (
    PackJob,
    Placement,
    lower_bound,
    makespan,
    next_to_start,
    pick_gpus,
    queue_order,
    simulate,
)
from tests.conftest import FIXTURES


def assert_disjoint(placements: list[Placement], gpu_count: int) -> None:
    """At every instant, no GPU is held by two jobs, and every GPU exists."""
    for first, second in itertools.combinations(placements, 2):
        overlap = first.start < second.end and second.start < first.end
        if overlap:
            assert not set(first.gpus) & set(second.gpus), (first, second)
    for placement in placements:
        assert all(0 <= gpu < gpu_count for gpu in placement.gpus)
        assert len(set(placement.gpus)) == len(placement.gpus)


def random_stage(seed: int, count: int) -> list[PackJob]:
    rng = random.Random(seed)
    return [PackJob(f"job-{i:02d}", rng.choice([1, 1, 1, 2, 2, 4, 8]),
                    float(rng.randint(60, 1800))) for i in range(count)]  # fmt: skip


@pytest.mark.parametrize("seed", range(20))
def test_simulated_schedules_never_share_a_gpu_and_run_every_job(seed: int) -> None:
    jobs = random_stage(seed, 25)
    placements = simulate(jobs, 8)
    assert sorted(p.id for p in placements) == sorted(j.id for j in jobs)
    assert_disjoint(placements, 8)
    seconds = {job.id: job.seconds for job in jobs}
    gpus = {job.id: job.gpus for job in jobs}
    for placement in placements:
        assert placement.end - placement.start == pytest.approx(seconds[placement.id])
        assert len(placement.gpus) == gpus[placement.id]
    assert makespan(placements) >= lower_bound(jobs, 8) - 1e-9


def test_a_concurrency_cap_is_honoured() -> None:
    jobs = [PackJob(f"j{i}", 1, 100.0) for i in range(6)]
    placements = simulate(jobs, 8, max_concurrent=2)
    for instant in (0.0, 150.0, 250.0):
        assert sum(p.start <= instant < p.end for p in placements) == 2
    assert makespan(placements) == pytest.approx(300.0)


def test_longest_first_ties_by_gpus_then_id() -> None:
    jobs = [PackJob("b", 1, 10.0), PackJob("a", 1, 10.0), PackJob("c", 2, 10.0),
            PackJob("d", 1, 50.0)]  # fmt: skip
    assert [job.id for job in queue_order(jobs)] == ["d", "c", "a", "b"]


def test_deterministic_for_a_given_input() -> None:
    jobs = random_stage(7, 30)
    assert simulate(jobs, 8) == simulate(list(reversed(jobs)), 8)


def test_a_large_job_is_not_starved_by_small_ones() -> None:
    """An 8-GPU job behind a stream of 1-GPU jobs starts when the first ones end, not
    after all of them: backfilling may not push its reserved start later."""
    jobs = [PackJob("wide", 8, 100.0), *(PackJob(f"s{i:02d}", 1, 90.0) for i in range(30))]
    # Make the runner busy first: one long 1-GPU job ahead of the wide one in the queue.
    jobs.append(PackJob("long", 1, 500.0))
    placements = {p.id: p for p in simulate(jobs, 8)}
    assert placements["wide"].start == pytest.approx(500.0)  # when "long" frees its GPU
    started_before = [p for p in placements.values() if p.start < 500.0 and p.id != "long"]
    assert all(p.end <= 500.0 for p in started_before)  # backfill never overran the reservation


def test_backfill_only_before_the_reservation() -> None:
    queue = [PackJob("head", 4, 100.0), PackJob("short", 1, 10.0), PackJob("longer", 1, 60.0)]
    from sglang_ci.plan.packing import Running

    running = [Running(2, 50.0)]  # 2 of 4 GPUs free; the head can start at t=50
    assert next_to_start(queue, 2, 0.0, running) == 1  # short ends at 10 <= 50
    assert next_to_start([queue[0], queue[2]], 2, 0.0, running) is None  # 60 > 50


def test_gpus_picked_as_a_contiguous_run_when_one_exists() -> None:
    assert pick_gpus([0, 2, 3, 5, 6, 7], 2) == (2, 3)
    assert pick_gpus([0, 2, 4], 2) == (0, 2)


def test_a_job_larger_than_the_runner_fails_in_one_line() -> None:
    with pytest.raises(UsageError, match=r"^big needs 8 GPUs but the runner has 4: "):
        simulate([PackJob("big", 8, 10.0)], 4)


def pack_plan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main_exit_code(["pack-plan", "--config", str(FIXTURES / "stages.toml"), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_pack_plan_json_lists_jobs_and_makespan(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = pack_plan(capsys, "--stage", "extra-a", "--gpus", "4", "--json")
    assert code == 0
    plan: dict[str, Any] = json.loads(out)
    assert plan["jobs"] and {"id", "gpus", "start", "end"} <= set(plan["jobs"][0])
    placements = [Placement(j["id"], tuple(j["gpus"]), j["start"], j["end"]) for j in plan["jobs"]]
    assert_disjoint(placements, 4)
    assert plan["makespan"] == max(j["end"] for j in plan["jobs"])


def test_pack_plan_text_compares_with_serial_and_sharding(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = pack_plan(capsys, "--stage", "extra-a", "--gpus", "8")
    assert code == 0
    assert "predicted makespan" in out and "one at a time on one runner" in out
    assert "SGLang's sharding" in out


def test_pack_plan_refuses_a_job_larger_than_g(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = pack_plan(capsys, "--stage", "extra-a", "--gpus", "1")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "needs 2 GPUs but the runner has 1" in err


def packed_stage(document: Any, value: object) -> None:
    document["stages"]["extra-a"]["pack"] = value


@pytest.mark.parametrize("value", [0, -1, "yes", 1.5])
def test_a_bad_pack_value_is_one_line(
    write_config: Any, capsys: pytest.CaptureFixture[str], value: object
) -> None:
    path: Path = write_config(lambda doc: packed_stage(doc, value))
    assert main_exit_code(["validate", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "pack" in err


def test_a_packed_stage_is_partitioned_by_gpu_seconds(write_config: Any) -> None:
    """Two 2-GPU jobs on a 4-GPU packed runner take half their seconds of its time."""
    from sglang_ci.config.model import load_config
    from sglang_ci.plan.github_matrix import plan_stage

    def edit(document: Any) -> None:
        packed_stage(document, True)
        document["stages"]["extra-a"]["gpus"] = 4

    path: Path = write_config(edit)
    config = load_config(str(path), {}, path.parent)
    stage = config.stages["extra-a"]
    serial = sum(config.seconds_of(unit, {}) for unit in stage.units)
    sized = sum(part.seconds for part in plan_stage(config, "extra-a", 1, {}).partitions)
    share = sum(config.seconds_of(u, {}) * config.jobs[u].gpus / 4 for u in stage.units)
    assert sized == pytest.approx(share) and sized < serial


def test_pack_plan_packs_a_registered_stage_by_est_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SGLang's own files (est_time 100, 300, 50 s; one GPU each) on a 2-GPU runner: the
    300 s file alone on one GPU, the other two after each other on the second."""
    from tests.run.test_registered_stage import write_config as write_registered

    config = write_registered(tmp_path)
    code = main_exit_code(["pack-plan", "--config", str(config), "--stage", "files-b",
                           "--gpus", "2", "--json"])  # fmt: skip
    plan = json.loads(capsys.readouterr().out)
    assert code == 0
    spans = {job["id"].rsplit("/", 1)[-1]: (job["start"], job["end"]) for job in plan["jobs"]}
    assert spans == {"test_b.py": (0, 300), "test_a.py": (0, 100), "test_c.py": (100, 150)}
    assert plan["makespan"] == 300
