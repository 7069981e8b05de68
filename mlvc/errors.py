"""Typed errors. Each carries a one-line message a user can act on; the CLI prints it."""

from __future__ import annotations


class MlvcError(Exception):
    """Base class: the message is shown as `mlvc: error: MESSAGE`, exit code 1."""

    exit_code = 1


class NotARepoError(MlvcError):
    pass


class RepoExistsError(MlvcError):
    pass


class PathError(MlvcError):
    """A path argument that does not exist, is outside the repo, or is in a forbidden place."""


class PointerError(MlvcError):
    """A `.mlvc` pointer file that cannot be read."""


class ObjectMissingError(MlvcError):
    def __init__(self, hash_: str, context: str = "") -> None:
        where = f"{context}: " if context else ""
        super().__init__(f"{where}object {hash_} is not in the cache (run `mlvc pull` or `mlvc fetch`)")
        self.hash = hash_


class CorruptObjectError(MlvcError):
    pass


class FileChangedError(MlvcError):
    pass


class DiskFullError(MlvcError):
    pass


class LockTimeoutError(MlvcError):
    pass


class ConfigError(MlvcError):
    pass


class CheckoutConflictError(MlvcError):
    def __init__(self, paths: list[str]) -> None:
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        super().__init__(
            f"refusing to overwrite changes that are not in the cache: {shown} "
            "(commit them with `mlvc commit`, or use --force to discard them)"
        )
        self.paths = paths


class PipelineError(MlvcError):
    """A pipeline file (mlvc.yaml / dvc.yaml), lock or params file that cannot be used as written."""


class StageFailedError(MlvcError):
    """A stage whose command exited non-zero (or was interrupted); nothing was recorded for it."""


class ExecutorError(MlvcError):
    """A backend that cannot run jobs at all (engine missing, cluster unreachable)."""


class RemoteConfigError(MlvcError):
    """A remote that is not configured, or configured wrongly."""


class RemoteError(MlvcError):
    """A remote that cannot be reached, rejects us, or fails mid-transfer. Messages name the remote."""


class RemoteObjectsError(MlvcError):
    """Some objects could not be transferred (corrupt on the remote, missing); the rest were."""


class RevisionError(MlvcError):
    """A revision string that names no commit (or an ambiguous short hash)."""


class DataFormatError(MlvcError):
    """A data file mlvc cannot read as a table: malformed CSV, empty file, unknown format."""


class DataCheckSpecError(MlvcError):
    """A `checks:` entry in mlvc.yaml that is not valid."""


class DataCheckError(MlvcError):
    """A data check failed; `results` holds every check's outcome so a caller can record them."""

    def __init__(self, message: str, results: list | None = None) -> None:
        super().__init__(message)
        self.results = results or []


class MetricsFileError(MlvcError):
    """A metrics or params file that cannot be parsed (names the file and the revision)."""


class HistoryError(MlvcError):
    """A history query that cannot be answered as asked (a metric missing at an endpoint, bad range)."""


class ReproduceError(MlvcError):
    """A revision that cannot be rebuilt in a temporary worktree (missing data, failing stage)."""


class CapacityError(MlvcError):
    """A stage that asks for more CPUs, GPUs or memory than the machine (or [execute] config) has."""


class RayWorkerLostError(ExecutorError):
    """The Ray worker running a stage died (and Ray's retries, if any, died too); nothing was recorded."""


class RayStageError(ExecutorError):
    """mlvc itself failed on a Ray worker (fetching a stage's inputs, pushing its outs), not the command."""


class HooksError(MlvcError):
    """Git hooks that cannot be installed or removed as asked (a hooks folder or hook file in the way)."""


class GateSpecError(MlvcError):
    """A `mlvc check` bound that cannot be used as written (`--min acc=0.9`, `--max-drop acc=0.01`)."""
