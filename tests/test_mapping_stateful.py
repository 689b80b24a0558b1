"""A hypothesis state machine over everything a person does to the asset-ID mapping and its copies:
config edits (add, remove, re-add, move category), sync, regenerate, build, delete the mapping file,
check out an older file from "git", delete the warehouse, restore, recover (with and without
--discard-newer). After every step it proves, against its own model of the rules:

- no symbol's ID ever changes within a major version, and no ID is issued twice within one, while
  any record of the first issue survives (in the file or the warehouse);
- no version label ever means two things while recorded;
- no recorded version is lost, except by the person's own acts (deleting a copy, checking out an
  older file) or by an explicit --discard-newer, which loses only what the losing copy alone held;
- each command succeeds exactly when the two copies allow it (its refusals are right, not just safe),
  and after every success the two copies hold the same history.

In-process library calls on a real project folder and warehouse file; small universes.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from features.asset_tables import read_warehouse
from features.config import load_project
from features.dimension import ensure_dimension, recover_file, restore_warehouse, sync_symbols
from features.errors import FstoreError
from features.mapping import history_key, load_mapping, parse_version, plan_sync
from features.symbols import parse_universe

POOL = ["AA", "BB", "CC", "DD", "EE", "FF"]
PLACES = [("sectors", "Tech"), ("sectors", "Energy"), ("etfs", "Market")]
configs = st.dictionaries(st.sampled_from(POOL), st.sampled_from(PLACES), min_size=1, max_size=5)

Key = tuple  # history_key(event): (version, kind, added, retired, reactivated, changed)


def _relation(file: list[Key] | None, warehouse: list[Key] | None) -> str:
    """The model's own reading of the rules (written from the issue, not from features.reconcile)."""
    if file is None:
        return "fresh" if warehouse is None else "file_missing"
    if warehouse is None or file[: len(warehouse)] == warehouse:
        return "agree" if warehouse == file else "warehouse_behind"
    if warehouse[: len(file)] == file:
        return "file_behind"
    return "diverged"


class MappingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="fstore-ids-"))
        (self.folder / "config").mkdir()
        (self.folder / "config" / "project.toml").write_text('[paths]\nwarehouse = "data/warehouse.duckdb"\n')
        self.project = load_project(self.folder)
        self.git: list[bytes] = []  # every mapping file ever committed
        self.ledger: set[Key] = set()  # every recorded version that no act has lost yet
        self._cache: dict[str, tuple[tuple, object]] = {}
        self.write_config({"AA": PLACES[0], "BB": PLACES[1]})

    def teardown(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- the two copies, read without fstore's reconciliation (cached while their files are unchanged)
    def _stat(self, *paths: Path) -> tuple:
        found = []
        for path in paths:
            try:
                st = path.stat()
                found.append((st.st_ino, st.st_size, st.st_mtime_ns))
            except FileNotFoundError:
                found.append(None)
        return tuple(found)

    def _cached(self, name: str, signature: tuple, read):
        if self._cache.get(name, (None,))[0] != signature:
            self._cache[name] = (signature, read())
        return self._cache[name][1]

    def file_history(self) -> list[Key] | None:
        path = self.project.mapping_path

        def read() -> list[Key] | None:
            return [history_key(e) for e in load_mapping(path).history] if path.exists() else None

        return self._cached("file", self._stat(path), read)

    def warehouse_history(self) -> list[Key] | None:
        db = self.project.warehouse_path

        def read() -> list[Key] | None:
            if not db.exists():
                return None
            con = duckdb.connect(str(db), read_only=True)
            try:
                copy = read_warehouse(con, path=db)
            finally:
                con.close()
            assert copy.problem is None, copy.problem  # nothing in this machine damages the tables
            return None if copy.mapping is None else [history_key(e) for e in copy.mapping.history]

        return self._cached("warehouse", self._stat(db, db.with_name(db.name + ".wal")), read)

    def recorded(self) -> set[Key]:
        return set(self.file_history() or ()) | set(self.warehouse_history() or ())

    # -- acts of the person (they may lose records; the ledger forgets what they lost) -------------
    def write_config(self, assign: dict[str, tuple[str, str]]) -> None:
        groups: dict[str, dict[str, list[str]]] = {}
        for symbol, (group, sub) in sorted(assign.items()):
            groups.setdefault(group, {}).setdefault(sub, []).append(symbol)
        (self.folder / "config" / "symbols.json").write_text(json.dumps(groups))

    def person_did_something(self) -> None:
        now = self.recorded()
        self.ledger = (self.ledger & now) | now

    @initialize(history=st.lists(configs, max_size=2))
    def start_with_some_versions(self, history: list[dict[str, tuple[str, str]]]) -> None:
        """Begin from nothing, or from a project synced through a few versions (each file committed),
        so that older files, newer warehouses and divergence are a few steps away."""
        for assign in history:
            self.write_config(assign)
            self.command(lambda: sync_symbols(self.project), True)

    @rule(assign=configs)
    def edit_config(self, assign: dict[str, tuple[str, str]]) -> None:
        self.write_config(assign)

    @rule(assign=configs, regenerate=st.booleans())
    def edit_and_sync(self, assign: dict[str, tuple[str, str]], regenerate: bool) -> None:
        self.write_config(assign)
        self.sync(regenerate)

    @precondition(lambda self: self.project.mapping_path.exists())
    @rule()
    def delete_the_file(self) -> None:
        self.project.mapping_path.unlink()
        self.person_did_something()

    @precondition(lambda self: self.project.warehouse_path.exists())
    @rule()
    def delete_the_warehouse(self) -> None:
        self.project.warehouse_path.unlink()
        self.project.warehouse_path.with_name("warehouse.duckdb.wal").unlink(missing_ok=True)
        self.person_did_something()

    @precondition(lambda self: bool(self.git))
    @rule(pick=st.integers(0, 1000))
    def check_out_an_older_file(self, pick: int) -> None:
        self.project.mapping_path.write_bytes(self.git[pick % len(self.git)])
        self.person_did_something()

    @precondition(lambda self: bool(self.git))
    @rule(pick=st.integers(0, 1000))
    def start_a_branch_from_an_older_commit(self, pick: int) -> None:
        """A fresh clone at an older commit (no warehouse): syncs there make a second line of history,
        and checking out a file of the first line later makes the copies diverge."""
        self.project.warehouse_path.unlink(missing_ok=True)
        self.project.warehouse_path.with_name("warehouse.duckdb.wal").unlink(missing_ok=True)
        self.project.mapping_path.write_bytes(self.git[pick % len(self.git)])
        self.person_did_something()

    @precondition(lambda self: bool(self.git))
    @rule(assign=configs, base=st.one_of(st.none(), st.integers(0, 1000)))
    def pull_a_teammates_sync(self, assign: dict[str, tuple[str, str]], base: int | None) -> None:
        """`git pull` of the file a teammate's sync wrote on another machine, on top of the file here
        or of an older commit (then the warehouse here may hold that version number differently)."""
        groups: dict[str, dict[str, list[str]]] = {}
        for symbol, (group, sub) in sorted(assign.items()):
            groups.setdefault(group, {}).setdefault(sub, []).append(symbol)
        path = self.project.mapping_path
        if base is not None or not path.exists():
            path.write_bytes(self.git[(base or 0) % len(self.git)])
        theirs = plan_sync(load_mapping(path), parse_universe(groups, path=Path("t.json")))
        if theirs.changed_anything:
            theirs.mapping.save(path)
            self.git.append(path.read_bytes())
        self.person_did_something()

    # -- fstore's commands ------------------------------------------------------------------------
    def command(self, run, allowed: bool, *, discard: bool = False) -> bool:
        """Run one command and check it against the model; True when it succeeded."""
        before_file, before_warehouse = self.file_history(), self.warehouse_history()
        before_ledger = set(self.ledger)
        try:
            run()
            ok = True
        except FstoreError:
            ok = False
        name = inspect.currentframe().f_back.f_code.co_name  # the rule that ran the command
        event(f"{name} when {_relation(before_file, before_warehouse)}: {'ok' if ok else 'refused'}")
        after_file, after_warehouse = self.file_history(), self.warehouse_history()
        if not ok:
            assert (after_file, after_warehouse) == (before_file, before_warehouse), (
                "a refusal changed a copy"
            )
            return False
        assert allowed, f"succeeded although the copies were {_relation(before_file, before_warehouse)}"
        assert after_file == after_warehouse, "after a success both copies hold the same history"
        now = set(after_file or ())
        lost = before_ledger - now
        if discard:  # only what the losing copy alone held
            only_one = set(before_file or ()) ^ set(before_warehouse or ())
            assert lost <= only_one, f"--discard-newer lost versions both copies held: {lost}"
        else:
            assert not lost, f"lost without --discard-newer: {sorted(k[0] for k in lost)}"
        self.check_new_versions(
            now - before_ledger - set(before_file or ()) - set(before_warehouse or ()), before_ledger - lost
        )
        self.ledger = (before_ledger - lost) | now
        if self.project.mapping_path.exists():
            self.git.append(self.project.mapping_path.read_bytes())  # the person commits the file
        return True

    def check_new_versions(self, new: set[Key], live: set[Key]) -> None:
        """A new version reuses no recorded label, and issues no ID a live record issued (to another
        symbol, or to the same symbol under another ID) within its major version."""
        labels = {k[0] for k in live}
        for key in new:
            version, kind, added = key[0], key[1], key[2]
            assert version not in labels, f"version {version} was issued again"
            major = parse_version(version)[0]
            if kind == "regenerate":
                assert all(parse_version(v)[0] < major for v in labels), f"major {major} reused"
                continue
            issued = {a[0]: a[1] for k in live if parse_version(k[0])[0] == major for a in k[2]}
            by_symbol = {symbol: asset_id for asset_id, symbol in issued.items()}
            for asset_id, symbol, *_ in added:
                assert asset_id not in issued, f"ID {asset_id} issued to {symbol}, was {issued.get(asset_id)}"
                assert symbol not in by_symbol, f"{symbol} got ID {asset_id}, had {by_symbol.get(symbol)}"

    def relation(self) -> str:
        return _relation(self.file_history(), self.warehouse_history())

    @rule(regenerate=st.booleans())
    def sync(self, regenerate: bool) -> None:
        allowed = self.relation() in ("fresh", "agree", "warehouse_behind")
        self.command(lambda: sync_symbols(self.project, regenerate=regenerate), allowed)

    @rule()
    def build(self) -> None:
        usable = self.relation() in ("fresh", "agree", "warehouse_behind")

        def run() -> None:
            self.project.warehouse_path.parent.mkdir(exist_ok=True)
            con = duckdb.connect(str(self.project.warehouse_path))
            try:
                ensure_dimension(con, self.project)
            finally:
                con.close()

        ran = self.command(run, usable)
        if usable and not ran:  # the only other refusal: the config differs from the mapping
            assert self.relation() != "fresh"

    @rule(discard=st.booleans())
    def restore(self, discard: bool) -> None:
        relation = self.relation()
        allowed = relation in ("agree", "warehouse_behind") or (
            discard and relation != "fresh" and relation != "file_missing"
        )
        self.command(lambda: restore_warehouse(self.project, discard_newer=discard), allowed, discard=discard)

    @rule(discard=st.booleans())
    def recover(self, discard: bool) -> None:
        relation = self.relation()
        has_warehouse = self.warehouse_history() is not None
        allowed = relation in ("agree", "file_missing", "file_behind") or (discard and has_warehouse)
        self.command(
            lambda: recover_file(self.project, discard_newer=discard),
            allowed and has_warehouse,
            discard=discard,
        )

    # -- always ----------------------------------------------------------------------------------
    @invariant()
    def every_copy_is_one_consistent_history(self) -> None:
        """Within each copy, IDs are stable and never reissued (replay checks it; here, independently)."""
        for history in (self.file_history(), self.warehouse_history()):
            ids: dict[tuple[int, str], int] = {}
            owners: dict[tuple[int, int], str] = {}
            for key in history or ():
                major = parse_version(key[0])[0]
                for asset_id, symbol, *_ in key[2]:
                    assert ids.setdefault((major, symbol), asset_id) == asset_id
                    assert owners.setdefault((major, asset_id), symbol) == symbol


MappingMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("FSTORE_MAPPING_EXAMPLES", "100")),  # more by hand
    stateful_step_count=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_mapping_under_every_sequence_of_acts = MappingMachine.TestCase
