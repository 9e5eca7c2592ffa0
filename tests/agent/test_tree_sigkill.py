"""An agent killed with SIGKILL in the middle of writes leaves every file with its old or new content."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from seccomp_operator.agent.tree import ProfileTree

# Large contents widen the window in which a non-atomic writer would leave a partial file.
OLD = b'{"defaultAction":"SCMP_ACT_ALLOW","x":"' + b"a" * 300_000 + b'"}\n'
NEW = b'{"defaultAction":"SCMP_ACT_ERRNO","x":"' + b"b" * 300_000 + b'"}\n'

WRITER = """
import sys
from seccomp_operator.agent.tree import ProfileTree
tree = ProfileTree(sys.argv[1])
contents = [open(sys.argv[2], 'rb').read(), open(sys.argv[3], 'rb').read()]
print("started", flush=True)
i = 0
while True:
    for name in ("p0", "p1", "p2"):
        tree.write("ns", name, contents[i % 2])
    i += 1
"""

ITERATIONS = int(os.environ.get("SIGKILL_ITERATIONS", "50"))


def test_sigkill_during_writes_never_leaves_partial_or_missing_files(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_bytes(OLD)
    new.write_bytes(NEW)
    tree = ProfileTree(str(root))
    for name in ("p0", "p1", "p2"):
        tree.write("ns", name, OLD)
    rng = random.Random(1234)
    seen_new = 0
    for _ in range(ITERATIONS):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(old), str(new)], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "writer did not start"
        assert proc.stdout.readline() == b"started\n"
        # Fault injection, not a wait: kill at a random moment inside the write loop.
        time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        for name in ("p0", "p1", "p2"):
            content = Path(tree.path_of("ns", name)).read_bytes()
            assert content in (OLD, NEW), f"partial file after SIGKILL: {len(content)} bytes"
            seen_new += content == NEW
    # The kills must really have landed mid-stream, not before the first write.
    assert seen_new > 0
    # Temp files left by a killed writer are cleaned by the next scan.
    tree.scan()
    assert sorted(os.listdir(root / "seccomp-operator" / "ns")) == ["p0.json", "p1.json", "p2.json"]
