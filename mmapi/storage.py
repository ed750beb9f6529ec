"""Object storage: every input and output path may be an `s3://` URL as well as a local path.

Files are read and written through fsspec (s3fs for `s3://`); DuckDB reads them through the
same filesystem registered on its connection (`register_on`), not through its httpfs
extension, which this project cannot install (see README, "Object storage").

**What stays local.** What cannot live in an object store is kept in a local *working
folder*, at the URL's path under `MMFLOW_WORK_DIR` (default `mmflow_work/` in the current
folder): `s3://bucket/campaigns/x` is worked on in `mmflow_work/s3/bucket/campaigns/x/`.
There go the SQLite ledger of a campaign, a DuckDB database being built, staging files, and
each output file while it is written. A finished file is then uploaded as one object (S3 shows
an object whole or not at all), so an output on S3 is never half written, and a file that
records progress (the landing manifest) is uploaded only after what it records.

**Credentials** come from the environment as boto does it (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ENDPOINT_URL`, `AWS_REGION`, profiles), or
from `use_credentials`, which the flows call with the contents of a Prefect `AwsCredentials`
block (`tasks/storage.py`; mmapi never imports Prefect). They are held here only, never in a
repr, a path, a URL or a message.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fsspec
from fsspec import AbstractFileSystem

__all__ = [
    "WORK_DIR_ENV",
    "OutputFolder",
    "S3Credentials",
    "download",
    "exists",
    "filesystem",
    "is_file",
    "is_url",
    "join",
    "read_copy_path",
    "readable_file",
    "register_on",
    "upload",
    "use_credentials",
    "work_dir",
    "working_folder",
]

WORK_DIR_ENV = "MMFLOW_WORK_DIR"
DEFAULT_WORK_DIR = "mmflow_work"

_lock = threading.Lock()
_credentials: S3Credentials | None = None


@dataclass(frozen=True, slots=True)
class S3Credentials:
    """Credentials and endpoint for `s3://` URLs (any field left None comes from boto's chain).

    The secret fields are left out of the repr, so the object can be logged by mistake
    without leaking them.

    Example:
        >>> S3Credentials(access_key_id="AKIA", secret_access_key="hush")
        S3Credentials(profile=None, region=None, endpoint_url=None)
    """

    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None

    def storage_options(self) -> dict[str, Any]:
        """s3fs's arguments for these credentials."""
        client_kwargs = {
            name: value
            for name, value in (("region_name", self.region), ("endpoint_url", self.endpoint_url))
            if value
        }
        options: dict[str, Any] = {"client_kwargs": client_kwargs} if client_kwargs else {}
        for name, value in (
            ("key", self.access_key_id),
            ("secret", self.secret_access_key),
            ("token", self.session_token),
            ("profile", self.profile),
        ):
            if value:
                options[name] = value
        return options


def use_credentials(credentials: S3Credentials | None) -> None:
    """Use these credentials for `s3://` from now on in this process (None: the environment)."""
    global _credentials
    with _lock:
        _credentials = credentials


def is_url(path: str | Path) -> bool:
    """Whether `path` names an object store (`s3://...`) rather than a local file.

    Example:
        >>> is_url("s3://bucket/lake"), is_url("lake"), is_url(Path("lake"))
        (True, False, False)
    """
    if isinstance(path, Path):
        return False
    scheme = urlsplit(path).scheme
    return "://" in path and scheme not in ("", "file", "local")


def join(base: str | Path, *parts: str) -> str | Path:
    """`base` with `parts` appended: a URL stays a URL, a local path a `Path`.

    Example:
        >>> join("s3://bucket/out/", "spring", "plan.parquet")
        's3://bucket/out/spring/plan.parquet'
    """
    if not is_url(base):
        return Path(base).joinpath(*parts)
    return "/".join([str(base).rstrip("/"), *(p.strip("/") for p in parts)])


def filesystem(url: str | Path) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem of `url` (with the credentials in use) and the path within it."""
    options: dict[str, Any] = {}
    if is_url(url) and urlsplit(str(url)).scheme in ("s3", "s3a"):
        # Other processes write the same prefixes (workers, the next landing): list afresh.
        options["use_listings_cache"] = False
        if _credentials is not None:
            options.update(_credentials.storage_options())
    return fsspec.core.url_to_fs(str(url), **options)


def register_on(connection: Any, urls: Iterable[str | Path]) -> None:
    """Let a DuckDB connection read (and write) the object stores among `urls` through fsspec.

    DuckDB then opens `s3://...` paths with the registered filesystem, credentials included.
    Local paths need nothing.
    """
    registered: set[str] = set()
    for url in urls:
        if not is_url(url):
            continue
        fs, _ = filesystem(url)
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        if registered.intersection(protocols):
            continue
        connection.register_filesystem(fs)
        registered.update(protocols)


def exists(url: str | Path) -> bool:
    """Whether a file or folder exists at `url` (a local path or a URL)."""
    if not is_url(url):
        return Path(url).exists()
    fs, path = filesystem(url)
    return bool(fs.exists(path))


def is_file(url: str | Path) -> bool:
    """Whether a file exists at `url` (a local path or a URL)."""
    if not is_url(url):
        return Path(url).is_file()
    fs, path = filesystem(url)
    return bool(fs.isfile(path))


def work_dir() -> Path:
    """The root of the local working folders (`MMFLOW_WORK_DIR`, default `mmflow_work/`)."""
    return Path(os.environ.get(WORK_DIR_ENV) or DEFAULT_WORK_DIR).resolve()


def working_folder(url: str | Path) -> Path:
    """The local folder where an output at `url` is worked on: `url` itself when local.

    Example:
        >>> working_folder("s3://bucket/campaigns/spring").relative_to(work_dir())
        PosixPath('s3/bucket/campaigns/spring')
        >>> working_folder("campaigns/spring")
        PosixPath('campaigns/spring')
    """
    if not is_url(url):
        return Path(url)
    parts = urlsplit(str(url))
    return work_dir() / parts.scheme / parts.netloc / parts.path.strip("/")


def read_copy_path(url: str | Path) -> Path:
    """The local folder or file holding a copy of inputs read from `url` (never written back)."""
    parts = urlsplit(str(url))
    return work_dir() / "read" / parts.scheme / parts.netloc / parts.path.strip("/")


def readable_file(url: str | Path, *, what: str) -> Path:
    """A local file to read the input at `url` from: itself, or a fresh copy of the object.

    Args:
        url: A local path or an object store URL.
        what: What the file is, for the message ("rate card").

    Raises:
        FileNotFoundError: there is no object at `url` (the message names it).
    """
    if not is_url(url):
        return Path(url)
    local = read_copy_path(url)
    if not download(str(url), local):
        raise FileNotFoundError(f"{url}: {what} not found")
    return local


def upload(local: Path, url: str) -> None:
    """Copy a finished local file to `url` as one object (it appears whole or not at all)."""
    fs, path = filesystem(url)
    fs.put_file(str(local), path)


def download(url: str, local: Path) -> bool:
    """Copy the object at `url` to `local` (via a temporary file); False when there is none."""
    fs, path = filesystem(url)
    local.parent.mkdir(parents=True, exist_ok=True)
    temporary = local.with_name(f".{local.name}.{os.getpid()}.download")
    try:
        fs.get_file(path, str(temporary))
    except FileNotFoundError:
        temporary.unlink(missing_ok=True)
        return False
    os.replace(temporary, local)
    return True


class OutputFolder:
    """An output folder given as a local path or an object store URL.

    Work always happens in `local` (the folder itself, or its working folder for a URL);
    `publish` uploads finished files, one object each, and `pull` fetches the files an
    earlier run published (on this machine or another) that `local` lacks.

    Attributes:
        location: The folder as given (a path or a URL).
        local: Where the files are written and read.
        remote: Whether `location` is on an object store.

    Example:
        >>> folder = OutputFolder("campaigns/spring")
        >>> folder.local, folder.remote, folder.pull("plan.parquet")
        (PosixPath('campaigns/spring'), False, [])
    """

    def __init__(self, location: str | Path) -> None:
        self.location = location
        self.local = working_folder(location)
        self.remote = is_url(location)

    def url(self, name: str) -> str:
        """Where `name` is published: its URL, or its local path."""
        return str(join(self.location, name))

    def pull(self, *names: str) -> list[str]:
        """Download the named files the store holds and `local` lacks; returns those fetched."""
        if not self.remote:
            return []
        return [
            name
            for name in names
            if not (self.local / name).exists() and download(self.url(name), self.local / name)
        ]

    def publish(self, *names: str) -> None:
        """Upload each named file of `local` that exists (nothing to do for a local folder)."""
        if not self.remote:
            return
        for name in names:
            if (self.local / name).exists():
                upload(self.local / name, self.url(name))
