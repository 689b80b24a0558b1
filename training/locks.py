"""One writer per run: an OS file lock in the run's folder, held for as long as a process trains it.

``runs/<run_id>/.lock`` is locked with ``flock`` (exclusive, non-blocking) by the process that trains
the run, from before its ``train_runs`` row says ``running`` until after the row says how it ended.
The kernel drops the lock when that process ends, however it ends (SIGKILL included), so:

* a second ``fstore train --resume RUN`` is refused at once, naming the holder's pid and host (read
  from ``.holder.json`` beside the lock, written whole when the lock is taken);
* a ``running`` row whose lock is free belongs to a process that is gone, even when its pid has been
  reused by another process (containers restart pids from 1): :func:`lock_is_free` tells
  :func:`training.runs.mark_stale_runs` so.

The lock file itself is never written (its inode must stay the one that is locked); it is created
empty. Where ``fcntl`` does not exist (Windows) the lock is a no-op and the pid check stands alone.
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from features.errors import TrainingError
from features.warehouse import atomic_write

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".lock"
HOLDER_NAME = ".holder.json"
_RETRIES, _RETRY_S = 4, 0.05  # a held lock is reported within ~0.2 s


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive lock on ``path`` (created empty if missing), or None when it is held."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
    if fcntl is None:  # pragma: no cover - Windows
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def holder(folder: Path) -> dict[str, Any]:
    """Who took the run's lock last: pid, host, since (empty when unknown)."""
    try:
        return dict(json.loads((Path(folder) / HOLDER_NAME).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return {}


class RunLock:
    """The lock of one run folder; :meth:`acquire` it, :meth:`release` it (or let the process end)."""

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder = folder
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, folder: Path, run_id: str) -> RunLock:
        """Lock ``folder`` (created if missing) for this process, or refuse naming who holds it."""
        folder = Path(folder)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = _try_lock(folder / LOCK_NAME)
        except OSError as exc:
            raise TrainingError(
                f"cannot lock the run folder {folder}: {exc.strerror or exc}",
                file=folder,
                hint="fstore writes checkpoints there: make it writable, or set [paths] runs",
            ) from None
        for _ in range(_RETRIES):  # a probe by lock_is_free holds it for microseconds: try again briefly
            if fd is not None:
                break
            time.sleep(_RETRY_S)
            fd = _try_lock(folder / LOCK_NAME)
        if fd is None:
            who = holder(folder)
            pid, host = who.get("pid", "?"), who.get("host", "?")
            raise TrainingError(
                f"run {run_id} is being trained by another process (pid {pid} on {host}, since "
                f"{who.get('since', '?')}); one process trains a run at a time",
                file=folder / LOCK_NAME,
                hint="wait for it to finish, or stop it (Ctrl-C / kill PID) and resume again",
            )
        lock = cls(folder, fd)
        try:
            record = {"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}
            atomic_write(folder / HOLDER_NAME, json.dumps(record) + "\n")
        except BaseException:
            lock.release()
            raise
        return lock

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only fd drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def lock_is_free(folder: str | Path) -> bool:
    """Whether the run folder has a lock file that no process holds (a run that wrote one is gone)."""
    path = Path(folder) / LOCK_NAME
    if fcntl is None or not path.is_file():
        return False
    try:
        fd = _try_lock(path)
    except OSError:
        return False
    if fd is None:
        return False
    os.close(fd)
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


__all__ = ["HOLDER_NAME", "LOCK_NAME", "RunLock", "holder", "lock_is_free"]
