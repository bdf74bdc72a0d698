"""calibration: evidence for thresholds: the calibration report and plot, flips between
runs' per-sample records, baseline entries. May import ``config``, ``evals`` and
``results``; the launches of a calibration are run by ``run``."""
