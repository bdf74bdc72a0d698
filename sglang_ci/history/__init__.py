"""Run history: every result remembered in one store, analyses over it, quarantine, and
the static dashboard. The verdict of a run stays SGLang's (pass/fail by its threshold);
history only adds evidence beside it."""
