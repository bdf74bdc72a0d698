"""results: what a run leaves behind and how it is read back: a job's result.json with
its verdict (the types are outcome's), the GitHub step summary and stage table, and
the report over a CI run's artifacts. May import ``config``, ``plan``, ``launch`` and
``evals``."""
