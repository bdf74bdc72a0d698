"""Noise-aware bisect: find the SGLang commit that broke a job, with evidence.

Layered as the rest: ``evidence`` (pure statistics: the paired sequential test, failure
rates), ``search`` (pure: which commit to probe next, git bisect's skip rules), ``commits``
(git), ``install`` (a candidate into the bisect venv), ``probe`` (one run of the job at the
installed commit, as a child ``python -m sglang_ci``), ``state`` (the resumable state
file), ``driver`` (the loop), ``output`` (table, markdown, JSON) and ``cli``."""
