"""config: the floor of the data flow. Reads stages.toml and baselines.toml into frozen,
validated dataclasses: ``model`` is the entry (``load_config``), ``schema`` the
dataclasses, ``reader`` the tables (over ``toml_reader``), ``jobs`` job expansion and
thresholds, ``rules`` the checks across tables, ``baselines`` the recorded runs. It also
defines every error the runner reports (``errors``) and the one number format and table
layout of every report (``text``). Imports nothing of sglang_ci outside this package."""
