"""A small report document rendered both as Markdown and as standalone HTML.

Only the blocks our reports use exist (headings, paragraphs, bullet lists, tables, images), so the
HTML needs no Markdown converter.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bus_seg.io.atomic import write_text_atomic


def format_value(value: object, digits: int = 4) -> str:
    """Numbers with ``digits`` decimals, missing values as "n/a", everything else as ``str``."""
    if value is None or value is pd.NA or (isinstance(value, numbers.Real) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return f"{float(value):.{digits}f}"
    return str(value)


def _escape_markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


@dataclass
class Report:
    """Blocks of a report, appended in reading order.

    Attributes:
        title: level-1 heading and HTML title.
    """

    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def heading(self, text: str) -> None:
        """Add a level-2 heading."""
        self.blocks.append(("heading", text))

    def paragraph(self, text: str) -> None:
        """Add a paragraph of plain text."""
        self.blocks.append(("paragraph", text))

    def bullets(self, items: Iterable[str]) -> None:
        """Add a bullet list of plain-text items."""
        self.blocks.append(("bullets", list(items)))

    def table(self, frame: pd.DataFrame, digits: int = 4) -> None:
        """Add a table; the index is not shown (reset it first to keep it)."""
        header = [str(column) for column in frame.columns]
        rows = [
            [format_value(value, digits) for value in row]
            for row in frame.astype(object).itertuples(index=False)
        ]
        self.blocks.append(("table", (header, rows)))

    def images(self, paths: Sequence[str], captions: Sequence[str]) -> None:
        """Add images given by relative links, each with a caption."""
        self.blocks.append(("images", list(zip(paths, captions, strict=True))))

    def to_markdown(self) -> str:
        """The report as GitHub-flavoured Markdown."""
        lines = [f"# {self.title}", ""]
        for kind, content in self.blocks:
            if kind == "heading":
                lines += [f"## {content}", ""]
            elif kind == "paragraph":
                lines += [str(content), ""]
            elif kind == "bullets":
                lines += [f"- {item}" for item in content] + [""]
            elif kind == "table":
                header, rows = content
                lines.append("| " + " | ".join(_escape_markdown_cell(h) for h in header) + " |")
                lines.append("|" + "|".join("---" for _ in header) + "|")
                lines += [
                    "| " + " | ".join(_escape_markdown_cell(c) for c in row) + " |" for row in rows
                ]
                lines.append("")
            elif kind == "images":
                for path, caption in content:
                    lines += [f"![{caption}]({path})", "", f"*{caption}*", ""]
        return "\n".join(lines)

    def to_html(self) -> str:
        """The report as one standalone HTML page (images linked, not embedded)."""
        e = html.escape
        body = [f"<h1>{e(self.title)}</h1>"]
        for kind, content in self.blocks:
            if kind == "heading":
                body.append(f"<h2>{e(str(content))}</h2>")
            elif kind == "paragraph":
                body.append(f"<p>{e(str(content))}</p>")
            elif kind == "bullets":
                body.append("<ul>" + "".join(f"<li>{e(item)}</li>" for item in content) + "</ul>")
            elif kind == "table":
                header, rows = content
                head = "".join(f"<th>{e(h)}</th>" for h in header)
                cells = "".join(
                    "<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
            elif kind == "images":
                body.append(
                    '<div class="gallery">'
                    + "".join(
                        f'<figure><a href="{e(path)}" title="open at full size">'
                        f'<img src="{e(path)}" alt="{e(caption)}" loading="lazy"></a>'
                        f"<figcaption>{e(caption)} (click to enlarge)</figcaption></figure>"
                        for path, caption in content
                    )
                    + "</div>"
                )
        style = (
            "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 8px;text-align:right}"
            "th{background:#eee}td:first-child,th:first-child{text-align:left}"
            ".gallery figure{display:block;margin:1em 0;max-width:100%}"
            ".gallery img{width:100%;max-width:1150px;height:auto;border:1px solid #ddd}"
            ".gallery figcaption{font-size:0.95em;color:#333}"
        )
        return (
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(self.title)}</title>'
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
        )

    def write(self, markdown_path: str | Path, html_path: str | Path | None = None) -> list[Path]:
        """Write the Markdown (and HTML when ``html_path`` is given) atomically."""
        paths = [write_text_atomic(markdown_path, self.to_markdown())]
        if html_path is not None:
            paths.append(write_text_atomic(html_path, self.to_html()))
        return paths
