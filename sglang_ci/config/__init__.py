"""config: the floor of the data flow. Reads stages.toml and baselines.toml into frozen,
validated dataclasses (schema, TOML reader, rules, job expansion, thresholds and their
evidence) and defines every error the runner reports (``errors``). Imports nothing of
sglang_ci outside this package."""
