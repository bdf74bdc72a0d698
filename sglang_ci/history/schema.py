"""The history store's schema: one version number and the migrations that reach it.

A store records its version in ``PRAGMA user_version``; opening an older store applies
the migrations after its version in order, in one transaction, so a reader never sees a
half-migrated file. A store newer than this code is refused (it may hold columns this
code would drop on merge)."""

from __future__ import annotations

SCHEMA_VERSION = 2

# MIGRATIONS[i] takes a store from version i to i + 1: statements separated by ";" (so
# no ";" inside a comment or a string), run in one transaction by store.migrate.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        uid TEXT PRIMARY KEY,          -- run_id + job: one job's run, the unit of history
        run_id TEXT NOT NULL,          -- gh:<run id>-<attempt>, or local:<host>:<start>
        job TEXT NOT NULL,
        stage TEXT NOT NULL,
        engine TEXT NOT NULL,
        stub INTEGER NOT NULL,         -- 1: the stub engine (stored, never evidence)
        status TEXT NOT NULL,
        failure_kind TEXT,
        score REAL,
        threshold REAL,
        comparator TEXT,
        accept_length REAL,
        occupancy REAL,
        seconds REAL NOT NULL,
        phases TEXT NOT NULL,          -- JSON {phase: seconds}
        started_at TEXT NOT NULL,
        finished_at TEXT,
        sglang_version TEXT,
        sglang_commit TEXT,
        gpu TEXT NOT NULL,             -- the GPU model, '' when unknown
        driver TEXT,
        host TEXT
    );
    CREATE INDEX runs_by_job ON runs (job, started_at);
    CREATE TABLE answers (
        uid TEXT NOT NULL REFERENCES runs (uid),
        eval TEXT NOT NULL,            -- gsm8k, hellaswag
        question INTEGER NOT NULL,     -- the sample's index among the evaluated samples
        correct INTEGER NOT NULL,
        PRIMARY KEY (uid, eval, question)
    ) WITHOUT ROWID;
    """,
    # v2: the engine's kind, not its name: 1 where the run was a rehearsal on a protocol
    # stand-in (engines.is_rehearsal), whatever that engine is called.
    """
    ALTER TABLE runs RENAME COLUMN stub TO rehearsal;
    """,
)

assert len(MIGRATIONS) == SCHEMA_VERSION

RUN_COLUMNS = (
    "uid",
    "run_id",
    "job",
    "stage",
    "engine",
    "rehearsal",
    "status",
    "failure_kind",
    "score",
    "threshold",
    "comparator",
    "accept_length",
    "occupancy",
    "seconds",
    "phases",
    "started_at",
    "finished_at",
    "sglang_version",
    "sglang_commit",
    "gpu",
    "driver",
    "host",
)
