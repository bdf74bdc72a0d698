"""launch: the processes of a job: leased ports (and the ports SGLang derives from them),
process trees and their teardown, GPUs and NVML, the deployment lifecycle, the server's
HTTP API and the per-run cancel token. May import ``config`` and ``plan``."""
