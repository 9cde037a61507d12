"""A stand-alone upload for the kill -9 test: ``python upload_runner.py URL KEY JOURNAL N CONC``.

Uploads labels for the samples ``engine_sandboxkit.sample_uuid(0..N-1)`` with the
engine and the journal at JOURNAL, and prints one JSON line with the counts.
A separate process, so that the test can SIGKILL it mid-run.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).parents[1]))  # the kits shared by every test folder

from engine_sandboxkit import label_jobs

from upload_preds.client import SegmentsClient
from upload_preds.engine import UploadEngine
from upload_preds.engineconfig import EngineConfig
from upload_preds.journal import Journal


async def main(url: str, key: str, journal_path: str, n: int, concurrency: int) -> None:
    with Journal(journal_path) as journal:
        async with SegmentsClient(url, key, concurrency=concurrency) as client:
            engine = UploadEngine(client, EngineConfig(concurrency=concurrency), journal=journal)
            result = await engine.run(label_jobs(n))
    print(json.dumps({"uploaded": result.uploaded, "skipped": result.skipped}), flush=True)


if __name__ == "__main__":
    url, key, journal_path, n, concurrency = sys.argv[1:6]
    asyncio.run(main(url, key, journal_path, int(n), int(concurrency)))
