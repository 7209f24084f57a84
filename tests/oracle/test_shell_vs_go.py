"""The (pprof) shell of ``pyprofnb FILE``: commands piped in give what go tool pprof's shell
gives on the same file, and on a pseudo-terminal it edits lines, keeps history, writes files
and opens the browser."""
from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from browser import busy_heap_profile
from gotools import go_env
from pyprofnb.report.callgrind import callgrind_text

# Commands whose output must equal go tool pprof's, block for block.
SAME_AS_GO = [
    "sample_index=alloc_space", "top 5", "top -cum 5", "top5", "top 4 {fn}", "top 3 -{fn}", "top --cum 3", "focus={fn}", "top 4", ":", "top 3",
    "sample_index=alloc_objects", "top 3", "sample_index=bad", "foo", "help top", "help web", "help xyz", "peek {fn}$",
    "list {fn}$", "granularity=lines", "top 3", "functions", "cum", "top 3", "functions=true", "cum=true", "top 3",
    "focus send", "o",
]


@pytest.fixture(scope="module")
def cpu_file(demo_server, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("shell") / "heap.pb.gz"
    path.write_bytes(busy_heap_profile(demo_server))
    return path


def _blocks(output: str) -> list[str]:
    """What each command printed (the text between prompts), header dropped."""
    return output.split("(pprof) ")[1:]


def _pyprofnb(args, stdin: str, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyprofnb", *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, timeout=120, env=env)


def _go_pprof(args, stdin: str, tmp: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["go", "tool", "pprof", *args], input=stdin, capture_output=True, text=True,
                          cwd=tmp, timeout=120, env=go_env(tmp), start_new_session=True)


def _hot_function(cpu_file, tmp) -> str:
    """A function of this profile with flat samples (the profile decides which)."""
    out = _pyprofnb(["-top", "-nodecount=3", "-sample_index=alloc_space", str(cpu_file)], "", tmp).stdout
    rows = [line.split()[-1] for line in out.splitlines() if re.match(r"\s+\d+(\.\d+)?[kMG]?B ", line)]
    assert rows, out
    return rows[0].rsplit(".", 1)[-1]


def test_piped_commands_match_go_tool_pprof(cpu_file, tmp_path):
    fn = _hot_function(cpu_file, tmp_path)
    script = "".join(c.format(fn=fn) + "\n" for c in SAME_AS_GO)
    ours = _pyprofnb([str(cpu_file)], script, tmp_path)
    go = _go_pprof([str(cpu_file)], script, tmp_path)
    assert ours.returncode == 0 and go.returncode == 0, ours.stderr + go.stderr
    ours_blocks, go_blocks = _blocks(ours.stdout), _blocks(go.stdout)
    assert len(ours_blocks) == len(go_blocks) == len(SAME_AS_GO) + 1  # + the prompt that meets EOF
    for command, a, b in zip(SAME_AS_GO, ours_blocks, go_blocks):
        assert a == b, f"after {command.format(fn=fn)!r}:\n--- ours\n{a}\n--- go tool pprof\n{b}"
    # Help and errors go to stderr, after the header, in both.
    entering = "Entering interactive mode"
    ours_err = ours.stderr.split(entering, 1)[1].splitlines()
    # Go's options we do not have: assembly syntax and label pseudo-frames.
    go_only = re.compile(r"  (intel_syntax|tagleaf|tagroot) +=")
    go_err = [line for line in go.stderr.split(entering, 1)[1].splitlines() if not go_only.match(line)]
    assert ours_err == go_err


def test_file_commands_write_what_go_writes(cpu_file, tmp_path):
    """callgrind and topproto from the shell: the same files as Go's, byte for byte (the
    topproto compared through go tool pprof -raw, since gzip headers differ)."""
    ours_dir, go_dir = tmp_path / "ours", tmp_path / "go"
    ours_dir.mkdir()
    go_dir.mkdir()
    script = "callgrind\ntopproto\nsvg\npng\n"
    ours = _pyprofnb([str(cpu_file)], script, ours_dir)
    go = _go_pprof([str(cpu_file)], script, go_dir)
    for name in ("profile001.callgraph.out", "profile001.pb.gz", "profile001.svg", "profile001.png"):
        assert f"Generating report in {name}" in ours.stderr
        assert f"Generating report in {name}" in go.stderr
    assert (ours_dir / "profile001.callgraph.out").read_text() == (go_dir / "profile001.callgraph.out").read_text()
    assert callgrind_text(__import__("pyprofnb").load(str(cpu_file))) == (go_dir / "profile001.callgraph.out").read_text()
    raw = [_go_pprof(["-raw", str(d / "profile001.pb.gz")], "", tmp_path).stdout for d in (ours_dir, go_dir)]
    assert raw[0] == raw[1] and "Samples:" in raw[0]
    assert (ours_dir / "profile001.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (ours_dir / "profile001.svg").read_text()
    assert "<svg" in svg and "svgPanZoom" in svg  # pans and zooms, as Go's SVG does
    gzip.decompress((ours_dir / "profile001.pb.gz").read_bytes())


def test_command_line_comments_and_binary_reports(cpu_file, tmp_path):
    out = _pyprofnb(["-comments", str(cpu_file)], "", tmp_path)
    assert out.returncode == 0, out.stderr
    go = _go_pprof(["-comments", str(cpu_file)], "", tmp_path)
    assert out.stdout == go.stdout
    pdf = tmp_path / "g.pdf"
    out = _pyprofnb(["-pdf", "-output", str(pdf), str(cpu_file)], "", tmp_path)
    assert out.returncode == 0, out.stderr
    assert pdf.read_bytes().startswith(b"%PDF")


def test_terminal_editing_history_and_files(cpu_file, tmp_path):
    """Through a pseudo-terminal: Up recalls the last command, help works, output= saves,
    web opens the browser (a script standing in for one records what it was given)."""
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    browser.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), BROWSER=str(browser), TERM="xterm", PPROF_TMPDIR=str(tmp_path / "tmp"))
    child = pexpect.spawn(sys.executable, ["-m", "pyprofnb", "-sample_index=alloc_space", str(cpu_file)], cwd=str(tmp_path), env=env,
                          encoding="utf-8", timeout=60, dimensions=(50, 200))
    try:
        child.expect_exact("(pprof) ")
        child.sendline("help top")
        child.expect_exact("Optionally save the report on the file f")
        child.expect_exact("(pprof) ")
        child.send("\x1b[A")  # Up: the previous line comes back for editing
        child.sendline("")
        child.expect_exact("Optionally save the report on the file f")
        child.expect_exact("(pprof) ")
        child.sendline("top -cum 4")
        child.expect(r"Showing top 4 nodes out of \d+")
        child.expect_exact("(pprof) ")
        child.sendline("top 3 >" + str(tmp_path / "top.txt"))
        child.expect_exact("Generating report in " + str(tmp_path / "top.txt"))
        child.expect_exact("(pprof) ")
        child.sendline("web")
        child.expect(r"Opened (\S+\.svg) in the web browser")
        web_file = child.match.group(1)
        child.expect_exact("(pprof) ")
        child.sendline("disasm main")
        child.expect_exact("no machine instructions")
        child.expect_exact("(pprof) ")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert "Showing top 3 nodes" in (tmp_path / "top.txt").read_text()
    assert opened.read_text().strip().endswith(web_file)
    assert "svgPanZoom" in Path(web_file).read_text()
    history = (home / ".pyprofnb_history").read_text()
    assert "top -cum 4" in history and "help top" in history
