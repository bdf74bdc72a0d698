"""run: the top of the pipeline: run options, the orchestrator that groups jobs by
server, launches, retries and prints the stage table, the job runner, the suite plugin,
probes, verification and the retry policy. May import every other package; only the
CLI and the nox sessions import it."""
