"""``report.md`` being written: its Markdown, and the table and figure files it links to.

>>> doc = Document(Path("out"), formats=["md", "csv"], summary=["trials: 4"])
>>> doc.h(2, "Summary")
>>> doc.bullets(doc.report.summary)
>>> doc.text()
'## Summary\\n\\n- trials: 4\\n'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from analysis import tables
from analysis.tables import Table

REPORT_FILE = "report.md"


@dataclass
class Report:
    """What :func:`analysis.report.write_report` wrote."""

    path: Path
    summary: list[str]
    tables: dict[str, Table] = field(default_factory=dict)
    figures: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Document:
    """Markdown parts of ``report.md`` in ``root``; tables go to ``root/tables``, figures to
    ``root/figures``, and each one is recorded in :attr:`report`."""

    def __init__(self, root: Path, formats: Sequence[str], summary: list[str]) -> None:
        self.root, self.formats = root, formats
        self.report = Report(root / REPORT_FILE, summary)
        self.parts: list[str] = []

    def h(self, level: int, text: str) -> None:
        self.parts.append(f"{'#' * level} {text}\n")

    def p(self, text: str) -> None:
        self.parts.append(f"{text}\n")

    def note(self, text: str) -> None:
        """A paragraph that is also one of the report's notes."""
        self.p(text)
        self.report.notes.append(text)

    def bullets(self, items: Sequence[str]) -> None:
        self.parts.append("\n".join(f"- {i}" for i in items) + "\n")

    def table(self, table: Table | None, level: int = 3) -> None:
        """Write ``table``'s files and show it under a heading (nothing if None or empty)."""
        if table is None or table.numeric.empty:
            return
        tables.write(table, self.root / "tables", self.formats)
        self.report.tables[table.name] = table
        self.h(level, table.title)
        if table.note:
            self.p(f"_{table.note}_")
        self.parts.append(tables.to_markdown(table.display) + "\n")

    def png(self, name: str) -> Path:
        """Where the figure ``name`` goes."""
        return self.root / "figures" / f"{name}.png"

    def figure(self, name: str, path: Path | None, caption: str) -> None:
        """Link the figure drawn at ``path`` (nothing if it was not drawn)."""
        if path is None:
            return
        self.report.figures[name] = path
        self.parts.append(f"![{caption}]({path.relative_to(self.root).as_posix()})\n")

    def text(self) -> str:
        return "\n".join(self.parts)

    def save(self) -> Report:
        """Write ``report.md`` and return what was written."""
        self.report.path.write_text(self.text())
        return self.report
