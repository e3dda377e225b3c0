"""Reading what a dashboard page shows in AppTest: the HTML pieces (``st.html``: budget
meters, bills, the net-worth table) by class, and every chart layer with its rows."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pandas as pd
import pyarrow as pa


class Blocks(HTMLParser):
    """The elements of one class in an HTML fragment: their attributes, the text inside
    them and the attributes of every element inside them."""

    def __init__(self, cls: str) -> None:
        super().__init__()
        self.cls, self.depth = cls, 0
        self.found: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if self.depth:
            self.depth += 1
            self.found[-1]["inner"].append(a)
        elif self.cls in (a.get("class") or "").split():
            self.depth = 1
            self.found.append({"attrs": a, "text": [], "inner": []})

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth and data.strip():
            self.found[-1]["text"].append(data.strip())


def blocks(at: Any, cls: str) -> list[dict[str, Any]]:
    parser = Blocks(cls)
    for h in at.get("html"):
        parser.feed(h.proto.body)
    return parser.found


def meters(at: Any) -> list[dict[str, Any]]:
    """Each meter: its name, amounts, note, state, fill colour, share filled and pace tick."""
    out = []
    for b in blocks(at, "fl-meter"):
        styles = [i.get("style") or "" for i in b["inner"]]
        [bar] = [i for i in b["inner"] if i.get("role") == "meter"]
        fill = styles[styles.index(bar["style"]) + 1]
        ticks = [i for i in b["inner"] if (i.get("title") or "").endswith("of the month gone")]
        name, amounts, note = b["text"]
        out.append({"name": name, "amounts": amounts, "note": note,
                    "state": b["attrs"]["data-state"],
                    "colour": fill.split("background:")[1].strip(" ;"),
                    "filled": fill.split("width:")[1].split(";")[0],
                    "tick": ticks[0]["style"].split("left:")[1].split(";")[0] if ticks
                    else None, "note_style": styles[-1]})
    return out


def chart_layers(at: Any) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """Every chart of the page (each layer of a layered one): its spec and the rows it
    draws."""
    out = []
    for chart in at.get("vega_lite_chart"):
        data = {d.name: pa.ipc.open_stream(d.data.data).read_all().to_pandas()
                for d in chart.proto.datasets}
        spec = json.loads(chart.proto.spec)
        for part in spec.get("layer", [spec]):
            name = part.get("data", spec.get("data", {})).get("name")
            out.append((part, data.get(name, next(iter(data.values()), pd.DataFrame()))))
    return out
