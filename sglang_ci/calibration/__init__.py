"""calibration: evidence for thresholds: the calibration report and plot, flips between
runs' per-sample records, baseline entries. May import every package below it
(``config``, ``plan``, ``launch``, ``evals``, ``results``; today ``config`` and
``launch.gpu_memory``); the launches of a calibration are run by ``run``."""
