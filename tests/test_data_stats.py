"""`mlvc data stats`: a real dataset (scikit-learn's iris), generated tables, the cache, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import git, need

IRIS_HEADER = "sepal_length,sepal_width,petal_length,petal_width,species\n"
SPECIES = ["setosa", "versicolor", "virginica"]


def sklearn_data_dir() -> Path | None:
    try:
        import sklearn
    except ImportError:
        return None
    return Path(sklearn.__file__).parent / "datasets" / "data"


def write_iris(dest: Path) -> None:
    """scikit-learn's bundled iris.csv, with a real header instead of its `150,4,names` line."""
    d = sklearn_data_dir()
    need(d is not None, "scikit-learn is not installed (pip install -e .[test])")
    lines = (d / "iris.csv").read_text().splitlines()[1:]
    rows = [",".join([*ln.split(",")[:4], SPECIES[int(ln.split(",")[4])]]) for ln in lines if ln]
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(IRIS_HEADER + "\n".join(rows) + "\n")


def stats(mlvc, *args: str) -> dict:
    return json.loads(mlvc("data", "stats", *args, "--json").stdout)


def col(doc: dict, name: str) -> dict:
    return next(c for c in doc["columns"] if c["name"] == name)


def test_iris_statistics_match_the_published_figures(repo, mlvc):
    write_iris(repo / "data" / "iris.csv")
    doc = stats(mlvc, "data/iris.csv")
    assert doc["rows"] == 150 and len(doc["columns"]) == 5
    sl = col(doc, "sepal_length")["numeric"]
    assert sl["min"] == 4.3 and sl["max"] == 7.9
    assert sl["mean"] == pytest.approx(5.8433, abs=1e-3)
    assert sl["std"] == pytest.approx(0.8281, abs=1e-3)
    assert sl["quantiles"]["p50"] == pytest.approx(5.8, abs=0.05)
    assert col(doc, "petal_length")["numeric"]["mean"] == pytest.approx(3.758, abs=1e-3)
    sp = col(doc, "species")
    assert sp["kind"] == "categorical" and sp["null_fraction"] == 0
    assert sp["categorical"]["distinct"] == 3 and sp["categorical"]["exact"]
    assert sorted(sp["categorical"]["top"]) == [[s, 50] for s in SPECIES]
    text = mlvc("data", "stats", "data/iris.csv").stdout
    assert "150 rows, 5 columns" in text and "setosa (33%)" in text


def test_raw_sklearn_file_with_its_odd_header_is_a_one_line_error(repo, mlvc):
    d = sklearn_data_dir()
    need(d is not None, "scikit-learn is not installed (pip install -e .[test])")
    (repo / "wine.csv").write_bytes((d / "wine_data.csv").read_bytes())  # header has 5 fields, rows 14
    r = mlvc("data", "stats", "wine.csv", check=False)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("mlvc: error: wine.csv: cannot read as CSV") and "Expected 5 columns" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_folder_of_parquet_and_jsonl_with_a_column_missing_in_one_file(repo, mlvc):
    d = repo / "tables"
    d.mkdir()
    pq.write_table(pa.table({"a": [1, 2, 3], "s": ["x", "y", None]}), d / "p1.parquet")
    pq.write_table(pa.table({"a": [4, 5]}), d / "p2.parquet")
    (d / "more.jsonl").write_text('{"a": 6, "s": "x"}\n{"a": null, "s": "z"}\n')
    (d / "README.txt").write_text("not a table\n")
    doc = stats(mlvc, "tables")
    assert doc["rows"] == 7 and doc["files"] == 3
    a = col(doc, "a")
    assert a["nulls"] == 1 and a["numeric"]["min"] == 1 and a["numeric"]["max"] == 6
    s = col(doc, "s")
    assert s["nulls"] == 3  # one null in p1, two rows of p2 that have no `s`
    assert dict(map(tuple, s["categorical"]["top"])) == {"x": 2, "y": 1, "z": 1}


def test_statistics_are_cached_by_content_and_read_at_a_revision(repo, mlvc):
    rng = np.random.default_rng(3)
    pq.write_table(pa.table({"x": rng.normal(size=1000)}), repo / "d.parquet")
    mlvc("add", "d.parquet")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    first = stats(mlvc, "d.parquet")
    again = stats(mlvc, "d.parquet")
    assert not first["cached"] and again["cached"] and again["columns"] == first["columns"]
    assert len(os.listdir(repo / ".mlvc" / "tmp" / "stats")) == 1
    # the same bytes at HEAD (read from the cache object) hit the same entry
    assert stats(mlvc, "d.parquet", "--rev", "HEAD")["cached"]
    os.chmod(repo / "d.parquet", 0o644)
    pq.write_table(pa.table({"x": rng.normal(size=500)}), repo / "d.parquet")
    changed = stats(mlvc, "d.parquet")
    assert not changed["cached"] and changed["rows"] == 500
    assert stats(mlvc, "d.parquet", "--rev", "HEAD")["rows"] == 1000


def test_quantiles_and_moments_stay_accurate_with_outliers_across_batches():
    from mlvc.data.read import DataFile
    from mlvc.data.stats import profile

    rng = np.random.default_rng(7)
    x = np.concatenate([rng.normal(100, 5, 300_000), [1e9, -1e9]])
    import io

    buf = io.BytesIO()
    pq.write_table(pa.table({"x": x}), buf, row_group_size=50_000)
    data = buf.getvalue()
    st = profile([DataFile("x.parquet", "parquet", None, data=data, size=len(data))])
    n = st.column("x").numeric
    assert n["mean"] == pytest.approx(x.mean(), rel=1e-9) and n["std"] == pytest.approx(x.std(ddof=1), rel=1e-9)
    for name, q in (("p1", 0.01), ("p25", 0.25), ("p50", 0.5), ("p99", 0.99)):
        assert n["quantiles"][name] == pytest.approx(np.quantile(x, q), abs=0.05), name


def test_high_cardinality_strings_get_an_estimated_distinct_count():
    from mlvc.data.read import DataFile
    from mlvc.data.stats import EXACT_CAP, profile

    ids = [f"user-{i}" for i in range(3 * EXACT_CAP)] + ["user-1"] * 50
    import io

    buf = io.BytesIO()
    pq.write_table(pa.table({"id": ids}), buf, row_group_size=5000)
    data = buf.getvalue()
    cat = profile([DataFile("ids.parquet", "parquet", None, data=data, size=len(data))]).column("id").categorical
    assert not cat["exact"]
    assert cat["distinct"] == pytest.approx(3 * EXACT_CAP, rel=0.05)
    assert cat["top"][0] == ["user-1", 51]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.csv", "a,b\n1,2\n3,4,5\n", "bad.csv: cannot read as CSV: CSV parse error: Expected 2 columns, got 3"),
        ("empty.csv", "", "empty.csv: empty file (0 bytes)"),
        ("empty.parquet", "", "empty.parquet: empty file (0 bytes)"),
        ("garbage.parquet", "this is not parquet at all", "garbage.parquet: cannot read as Parquet"),
        ("bad.jsonl", '{"a": 1}\n{"a": \n', "bad.jsonl: cannot read as JSON Lines"),
        ("notes.txt", "hello\n", "notes.txt: unknown table format"),
    ],
)
def test_bad_input_is_a_one_line_error(repo, name, content, expected):
    # In-process (the CLI's one-line contract for DataFormatError is checked through the wine file above).
    from mlvc.data.cache import stats_for
    from mlvc.errors import MlvcError
    from mlvc.repo import Repo

    (repo / name).write_text(content)
    with pytest.raises(MlvcError) as exc:
        stats_for(Repo(str(repo)), name)
    assert str(exc.value).startswith(expected) and "\n" not in str(exc.value), str(exc.value)


def test_csv_type_that_changes_after_the_first_block_names_the_column(tmp_path, monkeypatch):
    from mlvc.data import read
    from mlvc.data.stats import profile
    from mlvc.errors import DataFormatError

    monkeypatch.setattr(read, "BLOCK_BYTES", 1 << 12)  # types are inferred from the first block
    path = tmp_path / "late.csv"
    path.write_text("n\n" + "\n".join(str(i) for i in range(5000)) + "\nnot-a-number\n")
    f = read.DataFile("late.csv", "csv", None, path=str(path), size=path.stat().st_size)
    with pytest.raises(DataFormatError) as exc:
        profile([f])
    msg = str(exc.value)
    assert msg.startswith("late.csv: ") and "'n'" in msg and "not-a-number" in msg
    assert "inferred from the first" in msg and "\n" not in msg


def test_nested_parquet_column_gets_a_note_and_the_rest_is_described(repo, mlvc):
    pq.write_table(
        pa.table({"id": [1, 2, 3], "tags": [["a"], None, ["b", "c"]], "meta": [{"k": 1}, {"k": 2}, None]}),
        repo / "nested.parquet",
    )
    r = mlvc("data", "stats", "nested.parquet")
    assert "note: column 'tags' has type list<element: string>: only its null fraction is reported" in r.stdout
    assert "Traceback" not in r.stderr
    doc = stats(mlvc, "nested.parquet")
    assert col(doc, "tags")["nulls"] == 1 and col(doc, "meta")["kind"] == "other"
    assert col(doc, "id")["numeric"]["max"] == 3
