"""Reading numeric CSV tables with errors that name the file, line and column."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from calspike._inputs import open_input
from calspike.data.recording import DataError

_PARSER_LINE = re.compile(r"line (\d+)")


def read_numeric_csv(path: Path, header: bool) -> pd.DataFrame:
    """A CSV table whose cells are numbers or empty (NaN).

    DataError naming the file, line and column of any other cell. Lines are counted from 1 in
    the file, the header included.
    """
    try:
        with open_input(path) as stream:
            table = pd.read_csv(stream, header=0 if header else None, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except OSError as error:  # a failing disk or network share: [Errno 5] alone names nothing
        if error.filename is not None or isinstance(error, FileNotFoundError):
            raise
        raise DataError(f"{path}: cannot be read ({error.strerror or error})") from None
    except pd.errors.ParserError as error:
        line = _PARSER_LINE.search(str(error))
        where = f"line {line.group(1)}: " if line else ""
        raise DataError(f"{path}: {where}rows have different numbers of cells") from None
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not a text CSV file ({error.reason})") from None
    first_data_line = 2 if header else 1
    if len(table) == 0:
        return table
    if table.isna().to_numpy().any():  # pandas pads a line with fewer cells with NaN: find it
        short = _short_line(path)
        if short is not None:
            number, cells, expected = short
            raise DataError(
                f"{path}: line {number}: {cells} cell{'s' if cells != 1 else ''} where the "
                f"first line has {expected}; rows have different numbers of cells (an empty "
                "cell is written as nothing between two commas)"
            )
    for position in range(table.shape[1]):
        column = table.iloc[:, position]
        if not pd.api.types.is_numeric_dtype(column.dtype):
            numbers = pd.to_numeric(column, errors="coerce")
            row = int(np.flatnonzero((numbers.isna() & column.notna()).to_numpy())[0])
            label = repr(str(table.columns[position]).strip()) if header else str(position + 1)
            raise DataError(
                f"{path}: line {row + first_data_line}, column {label}: "
                f"{column.iloc[row]!r} is not a number"
            )
    return table


def _short_line(path: Path) -> tuple[int, int, int] | None:
    """The first line with fewer cells than the first line, blank lines aside.

    (its number from 1, its cells, the first line's cells), or None when every line has as many.
    """
    expected = None
    with open_input(path) as stream:
        for number, line in enumerate(stream, start=1):
            text = line.strip()
            if not text:
                continue
            cells = text.count(b",") + 1
            if expected is None:
                expected = cells
            elif cells < expected:
                return number, cells, expected
    return None
