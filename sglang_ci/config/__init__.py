"""config: the floor of the data flow. Reads stages.toml and baselines.toml into frozen,
validated dataclasses (schema, TOML reader, rules, job expansion, thresholds and their
evidence), defines every error the runner reports (``errors``) and the one number format
and table layout of every report (``text``). Imports nothing of
sglang_ci outside this package."""
