"""The two copies of the asset-ID mapping's history, compared, and what a command may do about them.

``config/asset_id_mapping.json`` is the durable record (in git); the warehouse's ``dim_symbol_history``
and ``mapping_versions`` are a disposable copy that can be read back as a history too
(:func:`features.dimension.read_warehouse`). Every command that reads or writes the mapping compares
the two first, version by version (:func:`history_key`: IDs, retirements, categories):

    state               the copies                                  what happens
    fresh               neither exists                              a first 1.0 may be made (build, sync)
    agree               the same history                            go on
    warehouse_behind    the warehouse's history is a prefix         catch the warehouse up, and say so
                        of the file's (an interrupted sync, a pull)
    file_missing        no file, the warehouse has a history        refuse: `fstore symbols recover`
    file_behind         the file's history is a prefix of the       refuse: `recover` (keep the newer
                        warehouse's (an older file from git)        versions) or `restore --discard-newer`
    diverged            each has versions the other lacks, or one   refuse, naming the first differing
                        version differs                             version and symbol
    warehouse_damaged   the tables cannot be read as one history    refuse: `fstore symbols restore`

Nothing here renumbers anything: a fresh numbering is only ever made when neither copy exists, and
a file that disagrees with the warehouse is never preferred silently, in either direction.

:func:`mapping_lock` is held by every command that writes the file (a lock file beside it), so two
writers never interleave, even on different warehouses.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from features.errors import MappingError
from features.mapping import AssetMapping, Event, history_key, remove_stale_temps

try:  # POSIX; elsewhere the lock is a no-op (the warehouse's own lock still serialises syncs)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

STATES = (
    "fresh",
    "agree",
    "warehouse_behind",
    "file_missing",
    "file_behind",
    "diverged",
    "warehouse_damaged",
)
USABLE = ("fresh", "agree", "warehouse_behind")
_GIT_HINT = "restore it from git (`git checkout -- config/asset_id_mapping.json`)"


@dataclass(frozen=True)
class WarehouseCopy:
    """What a warehouse holds of the mapping's history.

    ``mapping`` is the history read back from the tables (None when they are absent or damaged);
    ``problem`` says why the tables cannot be read as one history; ``labels`` are the version labels
    the tables mention, readable even when damaged (so a rebuild can tell what it would lose).
    """

    path: Path | None
    mapping: AssetMapping | None = None
    problem: str | None = None
    labels: tuple[str, ...] = ()

    @property
    def absent(self) -> bool:
        return self.mapping is None and self.problem is None

    @property
    def where(self) -> str:
        return f"the warehouse {self.path}" if self.path else "the warehouse"


@dataclass(frozen=True)
class Difference:
    """The first place two histories differ: the version, a symbol it concerns, and what each says."""

    version: str
    symbol: str | None
    detail: str


def _action(event: Event, symbol: str) -> str:
    """What ``event`` does to ``symbol``, in words."""
    parts = [
        f"adds it with ID {e.asset_id} ({e.category}.{e.subcategory})"
        for e in event.added
        if e.symbol == symbol
    ]
    parts += ["retires it"] if symbol in event.retired else []
    parts += ["reactivates it"] if symbol in event.reactivated else []
    parts += [f"moves it to {e.category}.{e.subcategory}" for e in event.changed if e.symbol == symbol]
    return " and ".join(parts) or "does not change it"


def _symbols_of(event: Event) -> set[str]:
    return {e.symbol for e in (*event.added, *event.changed)} | set(event.retired) | set(event.reactivated)


def _difference(file_event: Event, warehouse_event: Event) -> Difference:
    if file_event.version != warehouse_event.version or file_event.kind != warehouse_event.kind:
        return Difference(
            file_event.version,
            None,
            f"the file's next version is {file_event.version} ({file_event.kind}), the warehouse's is "
            f"{warehouse_event.version} ({warehouse_event.kind})",
        )
    file_ids = {e.asset_id: e.symbol for e in file_event.added}
    warehouse_ids = {e.asset_id: e.symbol for e in warehouse_event.added}
    for asset_id in sorted(file_ids.keys() & warehouse_ids.keys()):
        if file_ids[asset_id] != warehouse_ids[asset_id]:
            return Difference(
                file_event.version,
                file_ids[asset_id],
                f"version {file_event.version} gives ID {asset_id} to {file_ids[asset_id]} in the file and to "
                f"{warehouse_ids[asset_id]} in the warehouse",
            )
    for symbol in sorted(_symbols_of(file_event) | _symbols_of(warehouse_event)):
        in_file, in_warehouse = _action(file_event, symbol), _action(warehouse_event, symbol)
        if in_file != in_warehouse:
            return Difference(
                file_event.version,
                symbol,
                f"for {symbol}, version {file_event.version} in the file {in_file}; in the warehouse it "
                f"{in_warehouse}",
            )
    return Difference(file_event.version, None, f"version {file_event.version} differs")  # pragma: no cover


def compare_histories(file: Sequence[Event], warehouse: Sequence[Event]) -> tuple[str, Difference | None]:
    """("agree" | "warehouse_behind" | "file_behind" | "diverged", the first difference when diverged)."""
    for file_event, warehouse_event in zip(file, warehouse, strict=False):
        if history_key(file_event) != history_key(warehouse_event):
            return "diverged", _difference(file_event, warehouse_event)
    if len(file) == len(warehouse):
        return "agree", None
    return ("warehouse_behind" if len(file) > len(warehouse) else "file_behind"), None


@dataclass(frozen=True)
class Verdict:
    """How the file and the warehouse stand to each other, and what a command may do about it."""

    state: str
    file_path: Path
    file: AssetMapping | None
    warehouse: WarehouseCopy
    difference: Difference | None = None

    @property
    def usable(self) -> bool:
        """True when a command may go on (with :attr:`mapping`, None for ``fresh``)."""
        return self.state in USABLE

    @property
    def mapping(self) -> AssetMapping | None:
        """The whole recorded history when usable: the file's (the warehouse's is a prefix of it)."""
        return self.file if self.usable else None

    def newer_in_warehouse(self) -> tuple[str, ...]:
        """Versions the warehouse has past the point where the two histories part (or end)."""
        return _past_common(self.warehouse.mapping, self.file)

    def newer_in_file(self) -> tuple[str, ...]:
        return _past_common(self.file, self.warehouse.mapping)

    def error(self) -> MappingError:
        """The refusal for an unusable state, naming the ways out."""
        return _ERRORS[self.state](self)


def _past_common(mine: AssetMapping | None, other: AssetMapping | None) -> tuple[str, ...]:
    if mine is None:
        return ()
    common = 0
    theirs = other.history if other is not None else ()
    for a, b in zip(mine.history, theirs, strict=False):
        if history_key(a) != history_key(b):
            break
        common += 1
    return tuple(e.version for e in mine.history[common:])


def _versions(labels: Sequence[str]) -> str:
    return labels[0] if len(labels) == 1 else f"{labels[0]}–{labels[-1]} ({len(labels)} versions)"


def _file_missing(v: Verdict) -> MappingError:
    mapping = v.warehouse.mapping
    assert mapping is not None
    return MappingError(
        f"the asset-ID mapping file is missing, but {v.warehouse.where} records its history up to version "
        f"{mapping.version} ({mapping.num_embeddings} IDs issued); fstore never numbers the symbols again "
        "while a record of their IDs exists, so nothing was changed",
        file=v.file_path,
        hint=f"run `fstore symbols recover` to write the file from the warehouse's history (then commit it), or "
        f"{_GIT_HINT}",
    )


def _file_behind(v: Verdict) -> MappingError:
    assert v.file is not None
    newer = v.newer_in_warehouse()
    return MappingError(
        f"the mapping file is behind {v.warehouse.where}: the file ends at version {v.file.version}, the "
        f"warehouse also has {_versions(newer)} (an older file checked out of git?); a file that "
        "disagrees with the warehouse is never preferred silently, so nothing was changed",
        file=v.file_path,
        hint="keep the newer versions: `fstore symbols recover` rewrites the file from the warehouse's "
        "history; or drop them: `fstore symbols restore --discard-newer` rebuilds the warehouse from the "
        f"file (version(s) {', '.join(newer)} are lost, and their IDs may be issued again)",
    )


def _diverged(v: Verdict) -> MappingError:
    d = v.difference
    assert d is not None
    return MappingError(
        f"the mapping file and {v.warehouse.where} disagree from version {d.version} on: {d.detail}; "
        "neither copy is preferred, so nothing was changed",
        file=v.file_path,
        symbols=[d.symbol] if d.symbol else [],
        hint=f"compare `fstore symbols list --from file --version {d.version}` with `--from warehouse`, then "
        "keep the file's history (`fstore symbols restore --discard-newer`: the warehouse's version(s) "
        f"{', '.join(v.newer_in_warehouse())} are lost) or the warehouse's (`fstore symbols recover "
        f"--discard-newer`: the file's version(s) {', '.join(v.newer_in_file())} are lost)",
    )


def _damaged(v: Verdict) -> MappingError:
    if v.file is None:
        hint = f"{_GIT_HINT}, then run `fstore symbols restore` to rebuild the tables from it"
    elif lost := unknown_labels(v):
        hint = (
            "`fstore symbols restore --discard-newer` rebuilds them from the file; the warehouse mentions "
            f"version(s) {', '.join(lost)} that the file lacks, which are lost"
        )
    else:
        hint = (
            "`fstore symbols restore` rebuilds them from the file (the file has every version they mention)"
        )
    return MappingError(
        f"the asset-ID tables of {v.warehouse.where} are damaged, so they cannot be compared with the "
        f"mapping file: {v.warehouse.problem}; nothing was changed",
        file=v.file_path,
        hint=hint,
    )


def unknown_labels(v: Verdict) -> tuple[str, ...]:
    """Version labels the warehouse mentions that the file does not have."""
    known = {e.version for e in v.file.history} if v.file is not None else set()
    return tuple(label for label in v.warehouse.labels if label not in known)


_ERRORS = {
    "file_missing": _file_missing,
    "file_behind": _file_behind,
    "diverged": _diverged,
    "warehouse_damaged": _damaged,
}


def reconcile(file_path: Path, file: AssetMapping | None, warehouse: WarehouseCopy) -> Verdict:
    """Compare the file (None when missing) with what the warehouse holds."""
    if warehouse.problem is not None:
        return Verdict("warehouse_damaged", file_path, file, warehouse)
    if file is None:
        state = "fresh" if warehouse.absent else "file_missing"
        return Verdict(state, file_path, None, warehouse)
    if warehouse.mapping is None:
        return Verdict("warehouse_behind", file_path, file, warehouse)
    state, difference = compare_histories(file.history, warehouse.mapping.history)
    return Verdict(state, file_path, file, warehouse, difference)


# --------------------------------------------------------------------------- one writer of the file


def _lock_path(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        if text:
            return f" ({text})"
    return ""


def _open_locked(lock: Path, path: Path) -> int:
    """Open and lock ``lock``; retried when the previous holder removed it between open and lock."""
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise MappingError(
                f"cannot write in {path.parent} ({exc.strerror}), so the mapping file cannot be changed; "
                "nothing was changed",
                file=path,
                hint=f"make {path.parent} writable (and check the disk has space), then try again",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise MappingError(
                f"another fstore process{holder} is changing the mapping file right now; nothing was changed",
                file=path,
                hint="wait for it to finish, then try again",
            ) from None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def mapping_lock(path: Path) -> Iterator[None]:
    """Hold ``.asset_id_mapping.json.lock`` beside the mapping file while a command reads, plans and
    writes it; a second writer is refused at once, naming the holder.

    The lock is ``flock`` on an open file: the kernel drops it when its holder exits, however it
    exits, so a killed writer never leaves a stale lock (and a reused PID cannot hold it). The lock
    file is removed on the way out. Temp files a killed writer left are removed under the lock.
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock_path(path)
    fd = _open_locked(lock, path)
    try:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}".encode(), 0)
        remove_stale_temps(path)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        os.close(fd)


__all__ = [
    "STATES",
    "USABLE",
    "Difference",
    "Verdict",
    "WarehouseCopy",
    "compare_histories",
    "mapping_lock",
    "reconcile",
    "unknown_labels",
]
