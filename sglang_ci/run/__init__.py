"""run: the top of the pipeline. The two kinds of job, each from one entry module:
server_job.py (launch, checks, suite, teardown; its HTTP checks in server_checks.py) and
file_job.py (one of SGLang's registered files, then the sweep); both attempted by
attempts.py and judged by verdict_rules.py. Around them: the run options, the orchestrator
that groups jobs by launch and prints the stage table, the suite plugin, the console.
May import every other package; only the CLI and the nox sessions import it."""
