"""The seed tutorial's service in Python: ``/sendjson`` plus Go-compatible /debug/pprof.

    python -m demo_server [--host 127.0.0.1] [--port 4000]
"""
from .app import DemoHandler, DemoServer, User, main, send_json, serve

__all__ = ["DemoHandler", "DemoServer", "User", "main", "send_json", "serve"]
