"""The audit's pandas-free column store: what it writes must read back as the manifest it was."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from dataclean.manifest import read_manifest
from dataclean.table import Table


def _table() -> Table:
    return Table({
        "path": ["a.jpg", 'odd, "quoted"\nname.png', "caf\udce9.jpg"],
        "root": "/data",
        "label": ["cats", "dogs", ""],
        "width": [400, None, 7],
        "brightness": [0.5, None, math.nan],
        "bytes": [10, 0, 3],
    })


def test_write_csv_text_exactly(tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    _table().write_csv(out)
    assert out.read_bytes() == (
        b"path,root,label,width,brightness,bytes\n"
        b"a.jpg,/data,cats,400,0.5,10\n"
        b'"odd, ""quoted""\nname.png",/data,dogs,,,0\n'
        b"caf\xe9.jpg,/data,,7,,3\n"  # a non-UTF-8 file name goes back to disk as its own bytes
    )


def test_numpy_scalars_are_written_as_plain_numbers(tmp_path: Path) -> None:
    import numpy as np

    Table({"score": [np.float64(12.5), np.int64(3), np.float32(0.25), True]}).write_csv(tmp_path / "i.csv")
    assert (tmp_path / "i.csv").read_text() == "score\n12.5\n3\n0.25\nTrue\n"


def test_written_csv_reads_back_as_the_dataframe(tmp_path: Path) -> None:
    t = _table()
    t.write_csv(tmp_path / "m.csv")
    back = read_manifest(tmp_path / "m.csv")
    expected = t.to_pandas()
    assert back["path"].tolist() == expected["path"].tolist()
    assert pd.to_numeric(back["width"]).astype("Int64").tolist() == [400, pd.NA, 7]
    assert expected["width"].dtype == "Int64"
    assert pd.to_numeric(back["brightness"]).isna().tolist() == [False, True, True]


def test_columns_rows_and_select() -> None:
    t = _table()
    assert len(t) == 3 and "width" in t and "nope" not in t
    assert t.numbers("width")[[0, 2]].tolist() == [400.0, 7.0] and math.isnan(t.numbers("width")[1])
    assert t.select(["label", "path"]).columns == ["label", "path"]
    assert t.get("nope", "x") == "x"


def test_a_column_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="column 'label' has 2 values for a table of 3 rows"):
        Table({"path": ["a", "b", "c"], "label": ["x", "y"]})


def test_empty_table_keeps_its_columns() -> None:
    df = Table({"path": [], "check": []}, n=0).to_pandas()
    assert df.empty and list(df.columns) == ["path", "check"]
