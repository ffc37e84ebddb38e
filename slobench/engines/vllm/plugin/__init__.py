"""SLOs-Serve inside vLLM: `scheduler.SlosScheduler` (imports vLLM; loaded by the engine
with `--scheduler-cls`) and `config` (pure: what slobench passes it)."""
