"""The environment variable through which the runner hands the stub engine its answer
key: the runner sets it for a stub rehearsal, the stub reads it. Here, at the floor, so
that both sides name it from one place without the runner importing the stub."""

STUB_DATA_ENV = "SGLANG_CI_STUB_DATA"
