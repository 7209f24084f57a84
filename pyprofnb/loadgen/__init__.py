"""A hey-compatible load generator (`pyprofnb loadgen`, `pyprofnb.load_test`).

`run` holds the options, the command line and the run; `worker` the worker processes and
their HTTP/1.1 client; `result` hey's summary and CSV. Imports only `pyprofnb.errors`.
"""
from .run import LoadError, LoadOptions, LoadResult, LoadRun, main, parse_args, parse_duration, run_load, usage

__all__ = ["LoadError", "LoadOptions", "LoadResult", "LoadRun", "main", "parse_args", "parse_duration", "run_load",
           "usage"]
