"""How a job ends, at the bottom floor: its status and ``Verdict`` (verdict.py), the kind
of failure and its exit code (kinds.py), the exceptions that carry a kind (errors.py) and
whether a failed attempt is worth another (retry.py). Every floor above reads these; this
package imports nothing else of sglang_ci."""
