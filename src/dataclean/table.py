"""A small column store: the audit's in-memory manifest, without pandas.

``dataclean audit`` must start and finish fast, and importing pandas alone costs about a third of a
second of CPU. The audit therefore keeps its rows as named columns of plain Python values (``None``
for a missing number) and writes CSV with the standard library; :meth:`Table.to_pandas` gives
library users and ``dataclean fix`` the DataFrame they expect.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dataclean.io import atomic_write

if TYPE_CHECKING:
    import pandas as pd

#: Columns holding whole numbers that may be missing: pandas' nullable Int64 in to_pandas().
NULLABLE_INT_COLUMNS = ("width", "height")


class Table:
    """Named columns of equal length. ``table["path"]`` is a list; :meth:`numbers` an array of floats."""

    def __init__(self, columns: dict[str, Sequence[Any]] | None = None, n: int | None = None) -> None:
        self._cols: dict[str, list[Any]] = {}
        self._n = n
        for name, values in (columns or {}).items():
            self[name] = values

    def __len__(self) -> int:
        return self._n or 0

    def __contains__(self, name: object) -> bool:
        return name in self._cols

    def __getitem__(self, name: str) -> list[Any]:
        return self._cols[name]

    def __setitem__(self, name: str, values: Any) -> None:
        """Set a column from a sequence of row values, or one scalar (a string) for every row."""
        if isinstance(values, (str, int, float)) or values is None:
            values = [values] * len(self)
        else:
            values = values.tolist() if isinstance(values, np.ndarray) else list(values)
        if self._n is None:
            self._n = len(values)
        elif len(values) != self._n:
            raise ValueError(f"column {name!r} has {len(values)} values for a table of {self._n} rows")
        self._cols[name] = values

    @property
    def columns(self) -> list[str]:
        return list(self._cols)

    def get(self, name: str, default: Any = None) -> Any:
        return self._cols.get(name, default)

    def numbers(self, name: str) -> np.ndarray:
        """Column ``name`` as float64, missing values as NaN (numpy reads None as NaN)."""
        return np.array(self._cols[name], dtype=np.float64)

    def select(self, names: Iterable[str]) -> Table:
        """A table with only ``names``, in that order (columns are shared, not copied)."""
        out = Table(n=len(self))
        for name in names:
            out._cols[name] = self._cols[name]
        return out

    def to_pandas(self) -> pd.DataFrame:
        """The table as a DataFrame (whole-number columns with gaps as nullable Int64)."""
        import pandas as pd

        df = pd.DataFrame(self._cols, columns=self.columns)
        for name in NULLABLE_INT_COLUMNS:
            if name in self._cols:
                df[name] = df[name].astype("Int64")
        return df

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """Write as UTF-8 CSV (header, then one line per row), atomically; missing values are empty cells.

        File names that are not valid UTF-8 (Python holds them as surrogate escapes) are written back as
        their original bytes, so the path still opens the file; read_manifest reads them the same way.
        """
        with atomic_write(path, errors="surrogateescape") as fh:
            cells = [_cells(col) for col in self._cols.values()]
            fh.write(",".join(_cells(self.columns)) + "\n")
            fh.writelines(",".join(row) + "\n" for row in zip(*cells))


_SPECIAL = (",", '"', "\n", "\r")


def _cells(column: list[Any]) -> list[str]:
    """A column as CSV cells (what csv.writer writes with QUOTE_MINIMAL, ~10x faster on a whole column).

    Missing values (None, NaN) are empty cells; numbers are written by str (shortest round-trip, and
    plain digits for numpy scalars too); a cell holding a comma, a quote or a line break is quoted,
    its quotes doubled.
    """
    out = ["" if v is None or v != v else v if isinstance(v, str) else str(v) for v in column]  # v != v: NaN
    joined = "".join(out)
    if any(ch in joined for ch in _SPECIAL):  # rare: only then look at each cell
        out = ['"' + v.replace('"', '""') + '"' if any(ch in v for ch in _SPECIAL) else v for v in out]
    return out
