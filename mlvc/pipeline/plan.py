"""What is stale and why: one stage against its lock entry and the workspace.

A stage is stale when it never ran, its command or settings (wdir, image, env, resources,
checks) changed, a dep's hash changed, a param it names changed, or an out is missing or
differs from the lock. When only cached outs are missing and their bytes are in the cache,
the stage is restored, not rerun.

Hashing goes through one `Hasher` per command: each path is walked and hashed once, however
many stages read it (the stat cache makes a second walk cheap; the memo makes it free).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from mlvc.errors import PathError, PipelineError
from mlvc.pipeline.graph import Graph
from mlvc.pipeline.lockfile import LockEntry
from mlvc.pipeline.noop import file_signature
from mlvc.pipeline.params import ParamsReader
from mlvc.pipeline.spec import Stage
from mlvc.pointer import Ref
from mlvc.progress import NULL, Progress

RUN, RESTORE, OK, FROZEN = "run", "restore", "up-to-date", "frozen"


class Hasher:
    """Current Refs of workspace paths, each computed once until a stage rewrites it."""

    def __init__(self, repo, progress: Progress = NULL) -> None:
        from mlvc.workspace.scan import Scanner

        self.repo = repo
        self.scanner = Scanner(repo, store=False, progress=progress)
        self._memo: dict[str, Ref | None] = {}
        # path -> the stat signature its Ref was computed from (mlvc.pipeline.noop's, None: absent)
        self.signatures: dict[str, object] = {}

    def ref(self, rel: str) -> Ref | None:
        """The path's Ref, or None when it does not exist."""
        if rel not in self._memo:
            if not os.path.exists(self.repo.abs(rel)):
                self._memo[rel] = None
                self.signatures[rel] = None
            else:
                try:
                    ref, node = self.scanner.scan(rel)
                except PathError as exc:
                    raise PipelineError(str(exc)) from None
                from mlvc.workspace.walk import DirNode

                self._memo[rel] = ref
                self.signatures[rel] = node.sig if isinstance(node, DirNode) else file_signature(node.st)
        return self._memo[rel]

    def invalidate(self, rel: str) -> None:
        """Forget `rel`, everything under it and every folder above it."""
        prefix = rel + "/"
        for key in list(self._memo):
            if key == rel or key.startswith(prefix) or rel.startswith(key + "/"):
                del self._memo[key]
                self.signatures.pop(key, None)

    def remember(self, rel: str, ref: Ref | None) -> None:
        self.invalidate(rel)
        self._memo[rel] = ref


@dataclass
class Decision:
    name: str
    action: str  # run, restore, up-to-date, frozen
    reasons: list[str] = field(default_factory=list)
    deps: dict[str, Ref] = field(default_factory=dict)  # current hashes, for the lock
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # current values
    missing: list[str] = field(default_factory=list)  # outs to restore
    adopted: LockEntry | None = None  # up to date by dvc.lock: the entry to write to mlvc.lock

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "action": self.action, "reasons": self.reasons}


class Planner:
    def __init__(self, repo, graph: Graph, hasher: Hasher, reader: ParamsReader) -> None:
        self.repo = repo
        self.graph = graph
        self.hasher = hasher
        self.reader = reader
        self._dvc_lock: dict | None = None  # dvc.lock's stages, read on first need
        self.adopted = False  # some stage was found up to date by dvc.lock, not by mlvc.lock

    def params_of(self, stage: Stage) -> dict[str, dict[str, Any]]:
        values: dict[str, dict[str, Any]] = {}
        for decl in stage.params:
            if not self.reader.exists(decl.file):
                raise PipelineError(f"{decl.where}: stage {stage.name!r}: params file {decl.file} not found")
            values[decl.file] = self.reader.values(decl.file, decl.keys, f"{decl.where}: stage {stage.name!r}")
        return values

    def _adopt(self, stage: Stage, d: Decision) -> LockEntry | None:
        """The stage's mlvc.lock entry when dvc.lock shows DVC ran it as it is now (see dvclock)."""
        from mlvc.pipeline import dvclock
        from mlvc.pipeline.lockfile import LockedOut

        if self._dvc_lock is None:
            self._dvc_lock = dvclock.load(self.repo.root)
        found = self._dvc_lock.get(stage.name)
        if found is None or not dvclock.matches(self.repo.root, stage, found, d.params):
            return None
        outs = {}
        for out in stage.outs:
            ref = self.hasher.ref(out.path)
            if ref is None:
                return None
            outs[out.path] = LockedOut(ref, out.cache)
        return LockEntry(stage.settings(), dict(d.deps), d.params, outs)

    def check_inputs(self, names: list[str]) -> None:
        """Fail before anything runs: a dep that nothing produces and that does not exist; a param
        that is not in its file."""
        for name in names:
            stage = self.graph.stages[name]
            for dep in stage.deps:
                if self.graph.producer(dep.path) or self.graph.producers_under(dep.path):
                    continue
                if not os.path.lexists(self.repo.abs(dep.path)):
                    raise PipelineError(
                        f"{dep.where}: stage {name!r}: dep {dep.path!r} does not exist and no stage produces it"
                    )
            self.params_of(stage)

    def decide(
        self, stage: Stage, entry: LockEntry | None, force: bool = False, unknown: dict[str, str] | None = None,
        adopt: bool = True,
    ) -> Decision:  # fmt: skip
        """`unknown` (dry runs): dep paths whose content a stage that would run first decides -> that stage.

        On a dvc.yaml project a stage that looks stale to mlvc.lock (or is not in it) is up to date when
        dvc.lock records it as it is now: after `git checkout` the committed dvc.lock moves with the
        workspace while an untracked mlvc.lock does not."""
        d = Decision(stage.name, OK)
        reasons = d.reasons
        d.params = self.params_of(stage)
        waits: list[str] = []
        for dep in stage.deps:
            maker = _unknown_maker(dep.path, unknown) if unknown else None
            if maker is not None:
                if maker not in waits:
                    waits.append(maker)
                continue
            ref = self.hasher.ref(dep.path)
            if ref is None:
                if unknown is not None:  # dry run: restored or rerun by its producer first
                    prod = self.graph.producer(dep.path)
                    waits.append(prod[0] if prod else dep.path)
                    continue
                prod = self.graph.producer(dep.path)
                how = f" (stage {prod[0]!r} produces it: `mlvc repro {prod[0]}`)" if prod else ""
                raise PipelineError(f"{dep.where}: stage {stage.name!r}: dep {dep.path!r} does not exist{how}")
            d.deps[dep.path] = ref
        if force:
            reasons.append("forced")
        if entry is None:
            reasons.append("never ran")
        else:
            reasons.extend(_settings_changes(stage.settings(), entry.settings))
            reasons.extend(_dep_changes(d.deps, entry.deps, skip={dp.path for dp in stage.deps} - set(d.deps)))
            reasons.extend(_param_changes(d.params, entry.params))
        if stage.always_changed:
            reasons.append("always changed")
        reasons.extend(f"upstream {w!r} is stale" for w in waits)
        restorable = True
        for out in stage.outs:
            locked = entry.outs.get(out.path) if entry else None
            ref = self.hasher.ref(out.path)
            if ref is None:
                if entry is not None:  # "never ran" already says it all
                    reasons.append(f"out {out.path} missing")
                d.missing.append(out.path)
                if locked is None or not out.cache or not self.repo.objects.has(locked.ref.hash):
                    restorable = False
            elif entry is not None and (locked is None or locked.ref.hash != ref.hash):
                reasons.append(f"out {out.path} {'added' if locked is None else 'changed'}")
                restorable = False
        if entry is not None:
            gone = [p for p in entry.outs if p not in {o.path for o in stage.outs}]
            reasons.extend(f"out {p} removed" for p in gone)
            restorable = restorable and not gone
        if stage.frozen and not force:
            d.action = FROZEN
        elif not reasons:
            d.action = OK
        elif restorable and reasons == [f"out {p} missing" for p in d.missing]:
            d.action = RESTORE
        else:
            d.action = RUN
        if d.action == RUN and adopt and not force and not waits and stage.where.startswith("dvc.yaml"):
            adopted = self._adopt(stage, d)
            if adopted is not None:
                again = self.decide(stage, adopted, force, unknown, adopt=False)
                if again.action == OK:
                    again.adopted = adopted
                    self.adopted = True
                    return again
        return d


def _unknown_maker(path: str, unknown: dict[str, str]) -> str | None:
    for out, maker in unknown.items():
        if path == out or path.startswith(out + "/") or out.startswith(path + "/"):
            return maker
    return None


def _settings_changes(now: dict[str, Any], then: dict[str, Any]) -> list[str]:
    changes = []
    for key in ("cmd", "wdir", "image", "image_id", "network", "env", "resources", "checks"):
        if _norm(now.get(key)) != _norm(then.get(key)):
            changes.append(f"{key} changed")
    return changes


def _norm(value: Any) -> Any:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        return value[0]  # cmd: [x] and cmd: x are the same command
    return value if value not in ({}, [], "") else None


def _dep_changes(now: dict[str, Ref], then: dict[str, Ref], skip: set[str]) -> list[str]:
    changes = []
    for path, ref in now.items():
        old = then.get(path)
        if old is None:
            changes.append(f"dep {path} added")
        elif old.hash != ref.hash:
            changes.append(f"dep {path} changed")
    changes.extend(f"dep {p} removed" for p in then if p not in now and p not in skip)
    return changes


def _param_changes(now: dict[str, dict[str, Any]], then: dict[str, dict[str, Any]]) -> list[str]:
    changes = []
    for file, values in now.items():
        old = then.get(file, {})
        prefix = "" if file.endswith("params.yaml") and "/" not in file else f"{file}:"
        for key, value in values.items():
            if key not in old:
                changes.append(f"param {prefix}{key} added")
            elif old[key] != value or type(old[key]) is not type(value):
                changes.append(f"param {prefix}{key} {show(old[key])} -> {show(value)}")
        changes.extend(f"param {prefix}{k} removed" for k in old if k not in values)
    changes.extend(f"params {f} no longer used" for f in then if f not in now)
    return changes


def show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."
