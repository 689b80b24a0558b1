"""Price files on disk: which files a build reads, the symbol a file name gives, and how files group.

price_files(raw_dir)      the price files under data/raw (hidden names and temp files skipped)
file_symbol(path, map)    the symbol of a one-symbol file: its name's stem, upper-cased, mapped
layout_groups(files)      files that share a header line, so one scan can read them all
files_version(files, p)   a cheap version of the input (names, sizes, mtimes, [ingest] settings)
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from features.config import Project
from features.warehouse import TEMP_SUFFIX

PRICE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".parquet", ".pq")
INGEST_FORMAT = 2  # bump when parsing/validation rules change, so existing warehouses re-ingest


def is_temp_name(name: str) -> bool:
    """A name fstore's atomic writers use for a file being written (``.AAPL.csv.x1y2.fstore-tmp``)."""
    return name.startswith(".") or TEMP_SUFFIX in name


def price_files(raw_dir: Path) -> list[Path]:
    """Price files under ``raw_dir`` (recursive, sorted).

    Hidden files and folders are skipped, and so, explicitly, is every temp file of an interrupted
    ``fstore ingest`` (its copies are written under a hidden temp name and renamed when whole), so a
    build never reads a file that a failed copy left behind.
    """
    if not raw_dir.is_dir():
        return []
    found = []
    for path in raw_dir.rglob("*"):
        rel = path.relative_to(raw_dir)
        if any(is_temp_name(part) for part in rel.parts):
            continue
        if path.is_file() and path.name.lower().endswith(PRICE_SUFFIXES):
            found.append(path)
    return sorted(found)


def is_parquet(path: Path) -> bool:
    return path.name.lower().endswith((".parquet", ".pq"))


def is_tsv(path: Path) -> bool:
    return path.name.lower().endswith(".tsv")


def _layout_key(path: Path) -> tuple[str, bytes] | None:
    """Files with the same key share a header and can be read in one scan; None: read alone."""
    if is_parquet(path):
        return None
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            first = handle.readline(65536)
    except OSError:
        return None
    return (".tsv" if is_tsv(path) else ".csv", first.rstrip(b"\r\n"))


def layout_groups(files: Sequence[Path]) -> list[list[Path]]:
    """``files`` grouped by layout (same kind and header line), in first-seen order."""
    groups: dict[object, list[Path]] = {}
    for path in files:
        key = _layout_key(path)
        groups.setdefault(key if key is not None else ("alone", str(path)), []).append(path)
    return list(groups.values())


def files_version(files: Sequence[Path], project: Project) -> str:
    """A cheap version of the raw files: names, sizes, mtimes, and the ingest config."""
    raw_dir = project.path(project.paths.raw)
    entries = []
    for path in files:
        st = path.stat()
        entries.append([str(path.relative_to(raw_dir)), st.st_size, st.st_mtime_ns])
    payload = {"format": INGEST_FORMAT, "ingest": asdict(project.ingest), "files": entries}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=list).encode()).hexdigest()[:16]
    return f"files:{len(files)}:{digest}"


def rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else as is."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


__all__ = [
    "INGEST_FORMAT",
    "PRICE_SUFFIXES",
    "files_version",
    "is_parquet",
    "is_temp_name",
    "is_tsv",
    "layout_groups",
    "price_files",
    "rel",
]
