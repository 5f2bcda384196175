"""Every ```bash and ```python block of the README runs as written, against a real Redis.

A block preceded by ``<!-- not run: reason -->`` is skipped (servers, docker, outside services);
every other one runs in a fresh directory holding copies of ``rules/``, ``examples/`` and
``workflows/``, with ``EVENTBUS_REDIS_URL`` set and the project's ``eventbus`` first on the PATH,
and must exit 0.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
NOT_RUN = re.compile(r"<!-- not run: .+ -->")
# Background jobs a block starts (`eventbus run ... &`) are stopped when it ends.
BASH_PRELUDE = (
    "set -eo pipefail\ntrap 'rc=$?; kill $(jobs -p) 2>/dev/null || true; wait; exit $rc' EXIT\n"
)
BLOCK_TIMEOUT_SECONDS = 60


def readme_blocks() -> list[tuple[int, str, str]]:
    """(line, language, code) of each block to run."""
    lines = README.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = re.fullmatch(r"```(bash|python)", lines[i].strip())
        if not opening:
            i += 1
            continue
        end = lines.index("```", i + 1)
        before = next((x for x in reversed(lines[:i]) if x.strip()), "")
        if not NOT_RUN.fullmatch(before.strip()):
            blocks.append((i + 1, opening[1], "\n".join(lines[i + 1 : end]) + "\n"))
        i = end + 1
    return blocks


def test_the_readme_starts_with_make_run_and_make_test() -> None:
    text = README.read_text(encoding="utf-8")
    first = text[text.index("```bash") :].splitlines()
    assert first[1].startswith("make run") and first[2].startswith("make test")


def test_every_skipped_block_says_why() -> None:
    text = README.read_text(encoding="utf-8")
    assert all(m.group(0) != "<!-- not run:  -->" for m in NOT_RUN.finditer(text))
    assert len(readme_blocks()) >= 6  # the quickstart, Python, status, transform, patterns, ...


@pytest.mark.timeout(BLOCK_TIMEOUT_SECONDS + 10)
@pytest.mark.parametrize(("line", "language", "code"), readme_blocks(),
                         ids=[f"README.md:{b[0]}" for b in readme_blocks()])  # fmt: skip
def test_readme_block_runs(
    line: int, language: str, code: str, tmp_path: Path, redis_url: str
) -> None:
    for name in ("rules", "examples", "workflows"):
        shutil.copytree(ROOT / name, tmp_path / name)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "EVENTBUS_REDIS_URL": redis_url,
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    if language == "bash":
        command = ["bash", "-c", BASH_PRELUDE + code]
    else:
        command = [sys.executable, "-c", code]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT_SECONDS)  # fmt: skip
    assert done.returncode == 0, (
        f"README.md:{line} ({language}) exited {done.returncode}\n--- stdout\n{done.stdout}"
        f"\n--- stderr\n{done.stderr}"
    )
