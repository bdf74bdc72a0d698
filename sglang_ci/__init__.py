"""sglang-ci: turns stages.toml into CI stages, GitHub matrix jobs and nox sessions."""

__version__ = "0.1.0"
