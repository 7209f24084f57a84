"""Reading and writing profiles: profile.proto (gzipped or raw) in `proto`, Go's legacy heap
text in `legacy_text`. Imports the model, never the reports."""
from .proto import DEFAULT_MAX_BYTES, decode, encode

__all__ = ["DEFAULT_MAX_BYTES", "decode", "encode"]
