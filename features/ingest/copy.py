"""`fstore ingest`: check price files exactly as the next build will, then copy them into ``data/raw``.

A file in ``data/raw`` is only ever replaced whole: each copy is written to a hidden temp file in the
same folder, fsynced and renamed over the target (:func:`features.warehouse.atomic_path`), so a kill
or a full disk at any moment leaves the old file or the new one, never a part, and the build's scan
skips the temp names. One ``fstore ingest`` at a time holds ``data/raw/.fstore-ingest.lock``; while it
does, temp files that a killed ingest left behind are stale and are removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from features.config import Project
from features.errors import IngestError
from features.ingest.files import PRICE_SUFFIXES, price_files, rel
from features.warehouse import atomic_path, is_disk_full, remove_stale_temps

if TYPE_CHECKING:
    from features.ingest.prices import IngestSummary

LOCK_NAME = ".fstore-ingest.lock"


def collect(paths: Sequence[str | Path]) -> list[Path]:
    """The price files named by ``paths`` (folders searched); two files of one name are an error."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).resolve()
        if path.is_dir():
            files.extend(price_files(path))
        elif not path.is_file():
            raise IngestError("no such file or folder", file=path)
        elif not path.name.lower().endswith(PRICE_SUFFIXES):
            raise IngestError(f"not a price file (expected {', '.join(PRICE_SUFFIXES)})", file=path)
        else:
            files.append(path)
    if not files:
        raise IngestError("no price files found in " + ", ".join(str(p) for p in paths))
    names: dict[str, Path] = {}
    for path in files:
        if path.name in names:
            raise IngestError(f"two files named {path.name} ({names[path.name]} and {path})", file=path)
        names[path.name] = path
    return files


@contextlib.contextmanager
def _raw_lock(raw_dir: Path) -> Iterator[None]:
    """Hold data/raw's ingest lock (released by the OS if the process dies); no-op without fcntl."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; copies are still atomic
        yield
        return
    raw_dir.mkdir(parents=True, exist_ok=True)
    with open(raw_dir / LOCK_NAME, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IngestError(
                "another `fstore ingest` is copying files into this folder",
                file=raw_dir,
                hint="wait for it to finish, then run this one again",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _same(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and _digest(a) == _digest(b)


def _copy_whole(source: Path, target: Path, project: Project, done: int, total: int) -> None:
    """Replace ``target`` with a copy of ``source`` atomically; a failure leaves ``target`` as it was."""
    try:
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    except OSError as exc:
        where = rel(target, project.root)
        copied = f"{done} of {total} file(s) were copied before it" if done else "no file was copied"
        if is_disk_full(exc):
            raise IngestError(
                f"cannot copy to {where}: the disk is full ({exc.strerror or exc}); {where} is unchanged "
                f"and {copied}",
                file=source,
                hint="free some space (or raise the file-size limit) and run `fstore ingest` again",
            ) from None
        raise IngestError(
            f"cannot copy to {where}: {exc.strerror or exc}; {where} is unchanged and {copied}", file=source
        ) from None


def import_files(
    project: Project, paths: Sequence[str | Path], *, force: bool = False, dry_run: bool = False
) -> tuple[list[Path], IngestSummary]:
    """``fstore ingest``: check that price files pass the build's checks, then copy them into data/raw.

    ``data/raw`` stays the single source of truth that every build reads, so an import is a checked
    copy. The check is the build's own (:func:`features.ingest.preview_files`) over what data/raw will
    hold afterwards (its other files plus these), so anything the build would refuse is refused here
    and nothing is copied. A different file already in data/raw under the same name is an error
    unless ``force``; an identical one is left alone. ``dry_run`` checks and copies nothing. Returns
    the target paths and the preview of what the next build will ingest.
    """
    from features.ingest.prices import preview_files

    files = collect(paths)
    raw_dir = project.path(project.paths.raw)
    targets = [raw_dir / path.name for path in files]
    with _raw_lock(raw_dir):
        for target in {*targets, *(p for p in raw_dir.glob("*") if p.is_file())}:
            remove_stale_temps(target)
        for path, target in zip(files, targets, strict=True):
            clash = target.is_file() and target.resolve() != path and not force
            if clash and not _same(target, path):
                raise IngestError(
                    f"{rel(target, project.root)} already exists with different contents",
                    file=path,
                    hint="pass --force to replace it",
                )
        replaced = {t.resolve() for t in targets}
        kept = [p for p in price_files(raw_dir) if p.resolve() not in replaced]
        preview = preview_files([*kept, *files], project)
        if dry_run:
            return targets, preview
        pending = [(p, t) for p, t in zip(files, targets, strict=True) if t.resolve() != p]
        pending = [(p, t) for p, t in pending if not (t.is_file() and _same(t, p))]
        for done, (path, target) in enumerate(pending):
            _copy_whole(path, target, project, done, len(pending))
    return targets, preview


__all__ = ["LOCK_NAME", "collect", "import_files"]
