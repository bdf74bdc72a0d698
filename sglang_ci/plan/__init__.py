"""plan: what a job will run, computed without running it: server and router command
lines, the dry run, the GitHub matrix and partitions of a stage. May import ``config``
only; starts no process."""
