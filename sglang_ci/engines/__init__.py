"""The engines a job can launch, one module each behind one interface (base.py): what
differs between SGLang and the stub (the server program, readiness, GPU needs, the
router's environment, the data defaults of a rehearsal, whether its numbers are
evidence). registry.py names them; adding an engine is one module and one line there.
Just above outcome/: config, plan, launch and everything above ask the engine, never
compare its name."""
