"""%pprof? and %pprof -help: the whole help, with examples, every flag of the table."""
from __future__ import annotations

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from pyprofnb.jupyter.magic import PprofMagics, help_text
from pyprofnb.options import OPTION_BY_NAME


def test_help_has_examples_and_every_flag():
    text = help_text()
    assert PprofMagics.pprof.__doc__ == text
    for example in ("%pprof -top -inuse_space http://", "top = %pprof -top", "%pprof -flame -diff_base",
                    "%%pprof -cpu -top -o cell_cpu", "%%pprof -heap -top"):
        assert example in text, example
    for mode in ("-cpu", "-wall", "-heap", "-allocs", "-o NAME"):
        assert f"  {mode}" in text, mode
    missing = [name for name in OPTION_BY_NAME if f"-{name}" not in text]
    assert not missing, f"flags missing from %pprof's help: {missing}"


def test_question_mark_shows_it():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "pyprofnb")
    with capture_output() as cap:
        ip.run_cell("%pprof?")
    shown = cap.stdout
    assert "%%pprof [-cpu | -wall | -heap | -allocs]" in shown and "-diff_base" in shown and "-tagfocus" in shown
    assert len(shown.splitlines()) > 60
