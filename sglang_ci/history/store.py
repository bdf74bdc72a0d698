"""The history store: a small interface, and its embedded SQLite implementation.

Everything above this module talks to ``HistoryStore`` only, so a server database could
stand behind the same five methods later. The SQLite file is the default because CI
runners need no service: each run writes its own file, and ``merge`` unions files, so
concurrent runs never share a writer.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from sglang_ci.config.errors import UsageError
from sglang_ci.history.rows import Answers, RunRow
from sglang_ci.history.schema import MIGRATIONS, RUN_COLUMNS, SCHEMA_VERSION

HISTORY_ENV = "SGLANG_CI_HISTORY"
DEFAULT_STORE = Path("results") / "history.sqlite"


def store_path(option: str | None, env: Mapping[str, str]) -> Path:
    """--db FILE, else $SGLANG_CI_HISTORY, else results/history.sqlite."""
    return Path(option or env.get(HISTORY_ENV) or DEFAULT_STORE)


class HistoryStore(Protocol):
    def add(self, run: RunRow, answers: Sequence[Answers]) -> bool:
        """Record one run and its answers in one transaction; False when it was there."""

    def runs(self, job: str | None = None) -> list[RunRow]:
        """Every run (of one job), oldest first."""

    def answers(self, uid: str) -> list[Answers]:
        """The per-question records of one run."""

    def merge(self, other: Path) -> int:
        """Add every run of another store that this one lacks; how many were added."""

    def close(self) -> None: ...


class SqliteStore:
    def __init__(self, path: Path, *, create: bool = True) -> None:
        if not create and not path.is_file():
            raise UsageError(
                f"{path}: no history store there; ingest results first"
                " (python -m sglang_ci history ingest DIR)"
            )
        new = not path.exists()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None)
        except (sqlite3.DatabaseError, OSError) as error:
            raise UsageError(f"{path}: cannot open ({error}); name a writable --db FILE") from None
        try:
            if new:  # a store may name hosts and runners: the user's alone
                os.chmod(path, 0o600)
            self.db.execute("PRAGMA journal_mode=WAL")  # a reader never blocks the writer
            self.db.execute("PRAGMA synchronous=NORMAL")
            migrate(self.db, str(path))
        except BaseException as error:
            self.db.close()  # a store refused is a connection closed, not one left to the GC
            if isinstance(error, sqlite3.DatabaseError):
                raise UsageError(f"{path}: not a history store ({error})") from None
            if isinstance(error, OSError):
                raise UsageError(f"{path}: {error.strerror}; name a writable --db FILE") from None
            raise
        self.path = path

    def add(self, run: RunRow, answers: Sequence[Answers]) -> bool:
        with transaction(self.db):
            cursor = self.db.execute(_INSERT_RUN, _run_values(run))
            if cursor.rowcount == 0:
                return False
            self.db.executemany(
                "INSERT OR IGNORE INTO answers VALUES (?, ?, ?, ?)",
                ((run.uid, a.eval, q, int(ok)) for a in answers for q, ok in a.correct.items()),
            )
        return True

    def runs(self, job: str | None = None) -> list[RunRow]:
        query = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"
        rows = (
            self.db.execute(query + " WHERE job = ? ORDER BY started_at, uid", (job,))
            if job is not None
            else self.db.execute(query + " ORDER BY started_at, uid")
        )
        return [_run_of(row) for row in rows]

    def answers(self, uid: str) -> list[Answers]:
        found: dict[str, dict[int, bool]] = {}
        for name, question, correct in self.db.execute(
            "SELECT eval, question, correct FROM answers WHERE uid = ? ORDER BY eval, question",
            (uid,),
        ):
            found.setdefault(name, {})[question] = bool(correct)
        return [Answers(name, correct) for name, correct in found.items()]

    def merge(self, other: Path) -> int:
        source = SqliteStore(other, create=False)  # migrates an older store first
        source.close()
        self.db.execute("ATTACH DATABASE ? AS other", (str(other),))
        try:
            with transaction(self.db):
                before = self.db.total_changes
                self.db.execute("INSERT OR IGNORE INTO main.runs SELECT * FROM other.runs")
                added = self.db.total_changes - before
                self.db.execute("INSERT OR IGNORE INTO main.answers SELECT * FROM other.answers")
        finally:
            self.db.execute("DETACH DATABASE other")
        return added

    def close(self) -> None:
        self.db.close()


class transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception: all of a run or nothing."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if kind is not None else "COMMIT")


def migrate(db: sqlite3.Connection, name: str) -> None:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise UsageError(
            f"{name}: history schema {version} is newer than this sglang-ci"
            f" reads ({SCHEMA_VERSION}); upgrade sglang-ci"
        )
    if version == SCHEMA_VERSION:
        return
    with transaction(db):
        for step in MIGRATIONS[version:]:
            for statement in step.split(";"):
                if statement.strip():
                    db.execute(statement)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


_INSERT_RUN = (
    f"INSERT OR IGNORE INTO runs ({', '.join(RUN_COLUMNS)})"
    f" VALUES ({', '.join('?' for _ in RUN_COLUMNS)})"
)


def _run_values(run: RunRow) -> tuple[object, ...]:
    values = {**run.__dict__, "rehearsal": int(run.rehearsal), "phases": json.dumps(run.phases)}
    return tuple(values[column] for column in RUN_COLUMNS)


def _run_of(row: Iterable[object]) -> RunRow:
    values = dict(zip(RUN_COLUMNS, row, strict=True))
    values["rehearsal"] = bool(values["rehearsal"])
    values["phases"] = json.loads(str(values["phases"]))
    return RunRow(**values)  # type: ignore[arg-type]


def open_store(path: Path, *, create: bool = True) -> HistoryStore:
    return SqliteStore(path, create=create)
