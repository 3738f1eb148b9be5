"""A bare clone is enough: no tracked file points at the steering folder beside the clone or at a path that
exists on one machine only.

Data the tests and benchmarks read is vendored in tests/data (see its README) and found relative to the
reader's own file; scratch files go to pytest's tmp_path or the system temporary directory.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# The names are spelt in parts so that this file holds none of the paths it looks for, and is checked too.
SIBLING = "shared"  # the folder beside the clone that a user's machine does not have
MACHINE_ROOTS = ("work", "home", "Users", "root", "tmp", "mnt", "opt")  # roots specific to one machine or user
# The sibling folder reached upwards, or its data folder anywhere; otherwise an absolute path under a machine root.
# The look-behind keeps URL and relative paths out (a URL path, api/v1/..., data/...), and system paths every
# machine has (/usr/bin/chromium, /etc/..., /proc, /sys, /dev, /nonexistent/) pass.
MACHINE_PATH = re.compile(
    rf"\.\./{SIBLING}\b"
    rf"|\b{SIBLING}/data\b"
    rf"|(?<![\w.~/-])/(?:{'|'.join(MACHINE_ROOTS)})(?=[/\"'`\s):;,]|$)"
)
SKIP_DIRS = ("tests/data/",)  # vendored third-party files, kept byte-for-byte
SKIP_NAMES = {".gitignore", ".dockerignore", ".gitattributes"}  # a leading "/" there means the repository root


def offences(path: str, text: str) -> list[str]:
    """``path:line: text`` for every line of ``text`` that names the sibling folder or a machine path."""
    return [
        f"{path}:{number}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), start=1)
        if MACHINE_PATH.search(line)
    ]


def tracked_text_files() -> list[tuple[str, str]]:
    """(path, text) of every file git tracks that is present, text, and not skipped."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    files = []
    for name in listing.decode().split("\0"):
        if not name or name.startswith(SKIP_DIRS) or Path(name).name in SKIP_NAMES:
            continue
        path = ROOT / name
        if not path.is_file():  # deleted in the working tree
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            files.append((name, data.decode("utf-8")))
        except UnicodeDecodeError:
            continue
    return files


def test_no_tracked_file_names_shared_or_a_machine_path():
    files = tracked_text_files()
    assert len(files) > 50, "git ls-files listed almost nothing: is the test running in the repository?"
    found = [offence for name, text in files for offence in offences(name, text)]
    assert found == [], "use a path relative to the repository (tests/data, tmp_path, tempfile):\n" + "\n".join(found)


def test_the_checker_flags_shared_and_machine_paths_and_nothing_legitimate():
    up, data = f"../{SIBLING}", f"{SIBLING}/data"
    work, home, users, root, tmp, mnt, opt = (f"/{name}" for name in MACHINE_ROOTS)
    flagged = [
        f'PROM = Path("{work}/{data}/prom")',
        f'JUNIT = Path(__file__).parents[2] / "{SIBLING}" / "data"  # see {up}/data/junit',
        f"reads {data}/nab",
        f"open('{home}/alice/metrics.csv')",
        f"cp report.xml {users}/bob/Desktop/",
        f"default=Path('{tmp}/pulseboard-bench-pages/pulseboard.db')",
        f'tempfile.mkdtemp(dir="{tmp}")',
        f"python x.py > {tmp}/table.md",
        f"{root}/.cache/data.json",
        f"mount it on {mnt}/data",
        f"installed in {opt}/pulseboard",
    ]
    legitimate = [
        'executable_path="/usr/bin/chromium"',
        "copy it to /etc/pulseboard/pulseboard.toml",
        "GET /api/v1/query_range and /metrics",
        'psutil reads /proc/stat and /sys/class/net; print(x, file="/dev/null")',
        'load_settings(Path("/nonexistent/pulseboard.toml"))',
        f"https://github.com/someone{home}/blob/main{tmp}/x and data{tmp}/spool",
        "db = tmp_path / 'pulseboard.db'",
        f"the {SIBLING} engine; a {SIBLING} link; {SIBLING} by the session",
        f".{tmp}/x and build{opt}/y",
    ]
    text = "\n".join(flagged + legitimate)
    assert offences("x.py", text) == [f"x.py:{n}: {line}" for n, line in enumerate(flagged, start=1)]
