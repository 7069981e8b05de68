"""Pipelines: stage DAGs from mlvc.yaml (or dvc.yaml), what is stale and why, and reproducing it.

`spec` parses and templates the pipeline file, `graph` orders its stages, `lockfile` records
what each stage ran with, `plan` says what is stale, `runcache` remembers earlier runs, and
`repro` drives stale stages through an executor (`mlvc.execute`).
"""
