"""The local side of the backup: which files a dataset has for a run date, and reading each one exactly once."""
from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from airflow.sdk.exceptions import AirflowException

from indata_ops.config import RUN_DATE_PLACEHOLDER, Dataset
from indata_ops.errors import PermanentError

log = logging.getLogger(__name__)


class SourceError(AirflowException):
    """The local files cannot be backed up as they are; the message names the path.

    A read that fails or a file that changes while it is read may pass on a retry (a mount that hiccupped, an
    export still being written)."""


class BadSource(SourceError, PermanentError):
    """The source cannot be backed up and retrying will not change that: the root, the dataset's folder or the
    date's files are not there, or the worker may not read a file.

    A mount that did not come up, a wrong ``source_root``, a date without exports or a file's permissions need
    somebody; the task fails at once and the failure notice says so, instead of retrying for minutes. Clear the
    task once it is fixed."""


@dataclass(frozen=True)
class SourceFile:
    path: Path
    relative: str  # POSIX path below the dataset's folder: the manifest's path and the tail of the S3 key
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class SourceListing:
    base: Path  # the dataset's folder for the date: S3 keys keep the path relative to it
    files: tuple[SourceFile, ...]


def list_sources(root: Path, dataset: Dataset, run_date: str) -> SourceListing:
    """The regular files matching the dataset's pattern for the date, sorted by relative path.

    Fails when the root or the dataset's own folder is missing (a mount that did not come up must not look like a
    quiet day). Symlinks are followed only while they stay inside the root; special files (FIFOs, sockets,
    devices) are skipped with a warning.
    """
    if not root.is_dir():
        raise BadSource(f"Source root {root} does not exist or is not a folder")
    dataset_folder = root / _fixed_folder(dataset.source)
    if not dataset_folder.is_dir():
        raise BadSource(f"Folder {dataset_folder} of dataset {dataset.name} does not exist or is not a folder")
    base = root / dataset.source_folder(run_date)
    inside = _InsideRoot(root)
    files = []
    for path in sorted(root.glob(dataset.source_glob(run_date))):
        status = inside.status(path)
        if status is not None and stat.S_ISREG(status.st_mode):
            files.append(SourceFile(path, path.relative_to(base).as_posix(), status.st_size, status.st_mtime_ns))
        elif status is not None and not stat.S_ISDIR(status.st_mode):
            log.warning("Skipping %s: not a regular file (a FIFO, socket or device is never backed up)", path)
    return SourceListing(base, tuple(files))


def _fixed_folder(source: str) -> str:
    """The leading folders of a source pattern that hold no date and no wildcard: ``ventas/{ds}/*.csv`` -> ventas."""
    fixed = []
    for part in source.split("/")[:-1]:
        if RUN_DATE_PLACEHOLDER in part or any(char in part for char in "*?["):
            break
        fixed.append(part)
    return "/".join(fixed)


class _InsideRoot:
    """Stats paths found under the root, refusing those that a symlink leads out of it."""

    def __init__(self, root: Path):
        self.real_root = root.resolve()
        self._folders: dict[Path, bool] = {}  # real-path checks per folder: few folders, many files

    def status(self, path: Path) -> os.stat_result | None:
        """The file's stat (following a link that stays inside), or None when it must not be read."""
        status = os.lstat(path)
        if stat.S_ISLNK(status.st_mode):
            target = Path(os.path.realpath(path))
            if not target.is_relative_to(self.real_root):
                log.warning("Skipping %s: a symlink leaving the source root (to %s) is not followed", path, target)
                return None
            if not target.exists():
                log.warning("Skipping %s: a symlink to nothing (%s)", path, target)
                return None
            return os.stat(path)
        if not self._folder_inside(path.parent):
            log.warning("Skipping %s: reached through a symlinked folder leaving the source root", path)
            return None
        return status

    def _folder_inside(self, folder: Path) -> bool:
        if folder not in self._folders:
            self._folders[folder] = Path(os.path.realpath(folder)).is_relative_to(self.real_root)
        return self._folders[folder]


def read_whole(file: SourceFile) -> bytes:
    """The file's bytes, read once; fails naming the file when it changed since it was listed."""
    with _opened(file) as handle:
        data = handle.read()
        _check_unchanged(file, handle, len(data))
    return data


def read_parts(file: SourceFile, part_size: int) -> Iterator[bytes]:
    """The file in consecutive parts, read once; fails naming the file when it changed since it was listed."""
    with _opened(file) as handle:
        read = 0
        while chunk := handle.read(part_size):
            read += len(chunk)
            yield chunk
        _check_unchanged(file, handle, read)


@contextmanager
def _opened(file: SourceFile) -> Iterator[BinaryIO]:
    try:
        handle = file.path.open("rb")
    except PermissionError as error:
        raise BadSource(f"Cannot read {file.path}: {error.strerror or error}") from error
    except OSError as error:
        raise SourceError(f"Cannot read {file.path}: {error.strerror or error}") from error
    with handle:
        try:
            yield handle
        except OSError as error:  # a read that fails half-way (I/O error, file on a vanished mount)
            raise SourceError(f"Cannot read {file.path}: {error.strerror or error}") from error


def _check_unchanged(file: SourceFile, handle: BinaryIO, read: int) -> None:
    now = os.fstat(handle.fileno())
    if (read, now.st_size, now.st_mtime_ns) != (file.size, file.size, file.mtime_ns):
        raise SourceError(f"{file.path} changed while it was backed up (size {file.size} -> {now.st_size}, "
                          f"{read} bytes read, mtime moved: {now.st_mtime_ns != file.mtime_ns}); rerun when the "
                          "file is complete")
