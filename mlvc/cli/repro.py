"""`mlvc repro`: run the stale stages of the pipeline, in dependency order, and say why."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlvc.cli import common

if TYPE_CHECKING:  # typer loads only to build the app: the fast path (cli/fast.py) runs without it
    import typer

LABELS = {
    "ran": "ran",
    "restored": "restored from the cache",
    "run-cache": "restored from the run cache",
    "up-to-date": "up to date",
    "frozen": "frozen, not checked",
    "failed": "FAILED",
    "skipped": "skipped",
    "would run": "would run",
    "would restore": "would restore from the cache",
}


class TextListener:
    """Says what happens to each stage as it happens (stdout, or nothing with --json)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def starting(self, stage, decision, how: str) -> None:
        if not self.enabled or how != "run":
            return
        cmd = stage.cmds[0] + (f" (+{len(stage.cmds) - 1} more)" if len(stage.cmds) > 1 else "")
        common.out(f"Running stage '{stage.name}' ({'; '.join(decision.reasons)}):\n> {cmd}")

    def finished(self, result) -> None:
        if not self.enabled or result.action == "ran":
            return
        if result.action == "up-to-date":
            common.out(up_to_date_line(result.name))
        elif result.action in ("restored", "run-cache"):
            common.out(f"Stage '{result.name}': {LABELS[result.action]} ({'; '.join(result.reasons)}).")
        elif result.action == "skipped":
            common.out(f"Stage '{result.name}' skipped: {'; '.join(result.reasons)}.")


def up_to_date_line(name: str) -> str:
    return f"Stage '{name}' is up to date."


def resolve_jobs(repo, jobs: int | None) -> int:
    """-j N; without it `[execute] jobs` from config, else 1; 0 means one per CPU."""
    from mlvc.errors import ConfigError

    if jobs is None:
        value = repo.config.get("execute", "jobs") or "1"
        try:
            jobs = int(value)
        except ValueError:
            raise ConfigError(f"{repo.config.path}: execute.jobs must be a whole number, not {value!r}") from None
    if jobs < 0:
        raise ConfigError(f"-j/--jobs must be 0 or more, not {jobs}")
    if jobs == 0:
        from mlvc.execute.capacity import detect_cpus

        jobs = detect_cpus()
    return jobs


def runs_on_text(runs_on: dict | None) -> str:
    """` [container podman localhost/train:1, no network; gpus 1; 1 data check first]` for `repro --dry`."""
    if not runs_on:
        return ""
    if runs_on.get("backend") == "container":
        where = f"container {runs_on.get('engine') or '(no engine found)'} {runs_on.get('image')}"
        where += ", network" if runs_on.get("network") else ", no network"
    else:
        where = str(runs_on.get("backend"))
    res = runs_on.get("resources") or {}
    if res:
        from mlvc.execute.capacity import format_memory

        shown = {k: (format_memory(v) if k == "memory" else v) for k, v in res.items()}
        where += "; " + ", ".join(f"{k} {v}" for k, v in shown.items())
    checks = runs_on.get("checks")
    if checks:
        where += f"; {checks} data check{'s' if checks != 1 else ''} first"
    return f" [{where}]"


def stage_line(name: str, action: str, reasons: list[str]) -> str:
    why = f": {'; '.join(reasons)}" if reasons else ""
    return f"{name}: {LABELS.get(action, action)}{why}"


def install_sigterm() -> None:
    """SIGTERM ends a repro like Ctrl-C: the running command's process group first."""
    import signal

    def _raise(_sig, _frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _raise)
    except ValueError:
        pass  # not the main thread (embedded use): leave signals alone


RAY_JOBS = 256  # stages in flight on a cluster when -j is not given: Ray queues what does not fit yet


def resolve_executor(repo, executor: str | None, address: str | None):
    """--executor (else `execute.executor` in config, else local) -> an executor, or None for the default."""
    from mlvc.errors import ConfigError

    name = executor or repo.config.get("execute", "executor") or "local"
    if address and name != "ray":
        raise ConfigError(f"--address is for the ray executor (the executor is {name!r}); add --executor ray")
    if name == "local":
        return None
    if name != "ray":
        raise ConfigError(
            f"unknown executor {name!r}: choose local or ray (stages with `image:` run in a container by themselves)"
        )
    from mlvc.execute.base import get_executor

    return get_executor("ray", repo=repo, address=address)


def reproduce(repo, opts, as_json: bool, executor=None, recorder=None):
    """Run the full check (and what is stale); with a noop.Recorder, memoise a no-op verdict."""
    from mlvc.pipeline import noop
    from mlvc.pipeline.repro import Reproducer

    listener = TextListener(enabled=not as_json)
    rep = Reproducer(repo, executor=executor, listener=listener, progress=common.progress(), stdout_to_stderr=as_json)
    if recorder is not None:
        recorder.watch(rep.input_files())
    try:
        results = rep.run(opts)
    except BaseException:
        noop.forget(repo.root)
        raise
    paths = rep.noop_paths(results) if recorder is not None else None
    if paths is None:
        noop.forget(repo.root)
    else:
        recorder.write(rep.hasher.signatures, paths, [r.to_dict() for r in results])
    return results


def answer_noop(memo_key: tuple, dry: bool, as_json: bool) -> bool:
    """Print the memoised verdict of the last no-op repro if nothing it rests on changed (mlvc.pipeline.noop).
    False: no memo applies, or another mlvc command holds the repository lock (the full path waits for it)."""
    import os

    from mlvc.lock import RepoLock
    from mlvc.pipeline import noop
    from mlvc.repo import Repo

    repo = Repo.find()
    lock = RepoLock(os.path.join(repo.tmp_dir, "lock"), 0)
    if not dry and not lock.try_acquire():
        return False
    try:
        results = noop.answer(repo.root, memo_key)
    finally:
        lock.release()
    if results is None:
        return False
    if as_json:
        common.emit_json({"stages": results})
        return True
    for r in results:
        name, action, reasons = str(r["name"]), str(r["action"]), list(r["reasons"])  # type: ignore[call-overload]
        if dry:
            common.out(stage_line(name, action, reasons))
        elif action == "up-to-date":
            common.out(up_to_date_line(name))
    if not dry:
        common.out("Everything is up to date.")
    return True


def register(app: typer.Typer) -> None:
    import typer

    @app.command()
    def repro(
        targets: list[str] = typer.Argument(None, help="Stages (or outs) to reproduce; default: the whole pipeline."),
        force: bool = typer.Option(False, "--force", "-f", help="Run the selected stages even if nothing changed."),
        single: bool = typer.Option(False, "--single-item", "-s", help="Only the targets, not their upstream."),
        downstream: bool = typer.Option(False, "--downstream", help="The targets and every stage after them."),
        dry: bool = typer.Option(False, "--dry", help="Say what would run and why; run and write nothing."),
        keep_going: bool = typer.Option(
            False, "--keep-going", "-k", help="After a failure, go on with stages that do not depend on it."
        ),
        no_run_cache: bool = typer.Option(False, "--no-run-cache", help="Do not restore outs from earlier runs."),
        jobs: int | None = typer.Option(
            None, "--jobs", "-j",
            help="Stages at once, within CPU/GPU/memory capacity (default: execute.jobs or 1; 0 = one per CPU).",
        ),
        executor: str | None = typer.Option(
            None, "--executor", "-e",
            help="Where stages run: local (default, or execute.executor) or ray (a Ray cluster, data via the remote).",
        ),
        address: str | None = typer.Option(
            None, "--address", help="The Ray cluster (HOST:PORT) for --executor ray (default: execute.address)."
        ),
        as_json: bool = common.JsonOpt,
    ) -> None:
        """Reproduce the pipeline: run only the stages whose inputs changed, in dependency order."""
        run(targets, force, single, downstream, dry, keep_going, no_run_cache, jobs, executor, address, as_json)


def run(
    targets: list[str] | None,
    force: bool = False,
    single: bool = False,
    downstream: bool = False,
    dry: bool = False,
    keep_going: bool = False,
    no_run_cache: bool = False,
    jobs: int | None = None,
    executor: str | None = None,
    address: str | None = None,
    as_json: bool = False,
) -> None:
    """The body of `mlvc repro` (also called by the typer-free fast path, mlvc/cli/fast.py)."""
    # Without --force, nothing changed since the last no-op repro is answered from its memo: no
    # pipeline, lock or stage-running code is imported (mlvc.pipeline.noop). An executor named on the
    # command line is always checked (--executor ray connects to its cluster), so it takes the full path.
    memo_key = None
    if not force:
        from mlvc.pipeline import noop

        memo_key = noop.key(targets, single, downstream, dry)
        if executor is None and address is None and answer_noop(memo_key, dry, as_json):
            return
    from mlvc.pipeline.repro import Options

    opts = Options(targets or None, force, single, downstream, dry, keep_going, not no_run_cache)
    install_sigterm()
    with common.open_repo(mutating=not dry) as repo:
        # signed now, before the pipeline file, the lock or the config is read
        recorder = noop.Recorder(repo.root, memo_key) if memo_key is not None else None
        runner = resolve_executor(repo, executor, address)
        opts.jobs = resolve_jobs(repo, jobs)
        if runner is not None and runner.name == "ray" and jobs is None and not repo.config.get("execute", "jobs"):
            opts.jobs = RAY_JOBS
        results = reproduce(repo, opts, as_json, runner, recorder)
    if as_json:
        common.emit_json({"stages": [r.to_dict() for r in results]})
        return
    if dry:
        for r in results:
            common.out(stage_line(r.name, r.action, r.reasons) + runs_on_text(r.runs_on))
        return
    done = [r for r in results if r.action in ("ran", "restored", "run-cache")]
    if not done:
        common.out("Everything is up to date.")
    elif any(r.action in ("ran", "run-cache") for r in done):
        common.out("Updated mlvc.lock. To track the changes with git: git add mlvc.lock .gitignore")


# -- `mlvc status` section ---------------------------------------------------------
def pipeline_status(repo) -> tuple[list[dict[str, object]] | None, str | None]:
    """(stale stages with reasons, error) for `mlvc status`; (None, None) when there is no pipeline."""
    from mlvc.errors import MlvcError
    from mlvc.pipeline import spec
    from mlvc.pipeline.repro import Reproducer

    if spec.find(repo.root) is None:
        return None, None
    try:
        decisions = Reproducer(repo, progress=common.progress()).plan()
    except MlvcError as exc:
        return [], str(exc)
    return [d.to_dict() for d in decisions if d.action != "up-to-date"], None


def print_pipeline_status(stages: list[dict[str, object]] | None, error: str | None) -> None:
    if stages is None:
        return
    con = common.console()
    if error:
        con.print(f"[red]pipeline:[/red] {error}", markup=True)
        return
    from rich.markup import escape

    for s in stages:
        action = str(s["action"])
        color = {"run": "yellow", "restore": "red", "frozen": "dim"}.get(action, "white")
        label = {"run": "stale", "restore": "missing"}.get(action, action)
        why = "; ".join(s["reasons"])  # type: ignore[arg-type]
        con.print(f"[{color}]{label:>9}[/{color}]  stage {escape(str(s['name']))}: {escape(why)}")
    if not any(s["action"] in ("run", "restore") for s in stages):
        con.print("Pipeline stages are up to date.")
