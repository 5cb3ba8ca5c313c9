"""The environment `lmx up` gives each process keeps memory from piling up: token requests hash
client secrets with argon2 (19 MiB each, in worker threads), and without a fixed mmap threshold
glibc keeps those blocks in per-thread heaps for good (the gateway grew by over 100 MB)."""

from __future__ import annotations

import os
import subprocess
import sys

from lmx_cli.stack import _environment

PROGRAM = """
import os
from concurrent.futures import ThreadPoolExecutor
from gateway.clients import _verify, hash_secret

def rss_mb():
    with open(f"/proc/{os.getpid()}/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS"))

stored = hash_secret("a client secret")

def token_request(_):
    assert _verify(stored, "a client secret")  # what verify_secret runs in a worker thread
    return [bytes(300) for _ in range(5000)]  # what a request allocates meanwhile

before = rss_mb()
with ThreadPoolExecutor(8) as pool:
    for _ in range(3):
        list(pool.map(token_request, range(16)))
print(rss_mb() - before)
"""


def grown_mb(env: dict[str, str]) -> int:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return int(result.stdout.strip())


def test_argon2_bursts_do_not_stay_resident_under_lmx_up():
    plain = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    ports = {"gateway": 8000, "registry": 8001, "certification": 8002, "housing": 8003}
    configured = _environment("127.0.0.1", ports, {}, plain)
    with_setting, without = grown_mb(configured), grown_mb(plain)
    assert with_setting < 30, (with_setting, without)
    # And the setting is what makes the difference (so this test can fail).
    assert without > 40, (with_setting, without)
