"""Landing into an object store: the run works on a local copy of `OUT/events` and uploads.

Deduplication reads the files already landed for the days a batch touches, the staging
files and DuckDB's spill files must be local, and the lock is a local file, so a landing run
into `s3://...` works in the output's working folder (`mmapi.storage.working_folder`):

1. `pull`: the local copy is made equal to the store: landed files missing here are
   downloaded (files are never rewritten, so a name says it all), files here that the store
   lacks are deleted (a killed run wrote them but never recorded them: they land again), and
   the store's manifest replaces the local one.
2. after each batch, `push_files` uploads the batch's new files, one object each, and only
   then `push_manifest` uploads the manifest, so the manifest on the store never records an
   offset whose rows are not there. A run killed in between reads the batch again, and the
   deduplication against what was uploaded keeps the tables the same.

The lock only keeps two runs of one machine apart: as for a local folder, run one landing
per output at a time.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from .. import storage
from .manifest import Manifest

__all__ = ["MANIFEST_NAME", "RemoteEvents", "load_manifest", "readable_events"]

logger = logging.getLogger(__name__)

MANIFEST_NAME = "_landing/manifest.json"
# events/<table>/dt=YYYY-MM-DD/<file>.parquet
_LANDED_GLOB = "*/dt=*/*.parquet"


class RemoteEvents:
    """The `events/` folder of a landing output on an object store, and its local copy.

    Attributes:
        url: `OUT/events` on the store.
        local: Its local copy (in the working folder).
    """

    def __init__(self, url: str, local: Path) -> None:
        self.url = url.rstrip("/")
        self.local = local
        self._fs, self._root = storage.filesystem(self.url)
        self._stored: set[str] = set()

    def _local_files(self) -> set[str]:
        return {
            path.relative_to(self.local).as_posix()
            for path in self.local.glob(_LANDED_GLOB)
            if not path.name.startswith(".")
        }

    def pull(self) -> None:
        """Make the local copy equal to what the store holds (files and manifest)."""
        root = self._root.rstrip("/")
        self._stored = {
            path[len(root) + 1 :]
            for path in self._fs.glob(f"{root}/{_LANDED_GLOB}")
            if not path.rsplit("/", 1)[-1].startswith(".")
        }
        here = self._local_files()
        for name in sorted(here - self._stored):
            (self.local / name).unlink(missing_ok=True)
        missing = sorted(self._stored - here)
        for name in missing:
            storage.download(f"{self.url}/{name}", self.local / name)
        manifest = self.local / MANIFEST_NAME
        if not storage.download(f"{self.url}/{MANIFEST_NAME}", manifest):
            manifest.unlink(missing_ok=True)
        if missing:
            logger.info("downloaded %d landed files from %s", len(missing), self.url)

    def push_files(self) -> int:
        """Upload the landed files the store does not hold yet; returns how many."""
        new = sorted(self._local_files() - self._stored)
        for name in new:
            storage.upload(self.local / name, f"{self.url}/{name}")
            self._stored.add(name)
        return len(new)

    def push_manifest(self) -> None:
        """Upload the manifest (after the files it records)."""
        storage.upload(self.local / MANIFEST_NAME, f"{self.url}/{MANIFEST_NAME}")


def load_manifest(out: str | Path) -> Manifest:
    """The landing manifest of an output folder, local or on an object store."""
    events = storage.join(out, "events")
    if not storage.is_url(out):
        return Manifest.load(Path(events) / MANIFEST_NAME)
    # Read through a temporary copy: the working folder belongs to the landing run.
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "manifest.json"
        storage.download(f"{events}/{MANIFEST_NAME}", local)
        return Manifest.load(local)


def readable_events(events: str | Path) -> Path:
    """A local folder to read landed events (`<events>/<table>/dt=...`) from.

    A local folder is itself; for an object store URL, a copy of its landed files is brought
    up to date under `MMFLOW_WORK_DIR/read/` (apart from the landing's working folders, which
    a landing run may be writing into) and returned.
    """
    if not storage.is_url(events):
        return Path(events)
    local = storage.read_copy_path(events)
    RemoteEvents(str(events), local).pull()
    return local
