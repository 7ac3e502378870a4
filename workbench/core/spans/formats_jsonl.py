"""Span records in JSON: spaCy-style (``{"text", "spans": [{"start", "end", "label"}]}``,
also ``"entities"`` as lists or objects), doccano (``"label": [[start, end, label]]`` or
``"entities"`` with ``start_offset``/``end_offset``), Label Studio task exports (``"data"``
and ``"annotations"[].result[].value`` with ``start``, ``end``, ``labels``) and plain
records (``{"text": ...}`` only, to be labelled). Either one object per line (JSONL) or one
JSON array of objects (Label Studio's JSON export).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from workbench.core.errors import ImportDataError
from workbench.core.spans.examples import SpanExample
from workbench.core.store.spans import Span

__all__ = ["JSON_FLAVOURS", "read_span_json", "span_json_objects"]

JSON_FLAVOURS = ("spacy", "doccano", "labelstudio")


def _int(value: Any, where: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ImportDataError(f"{where}: {what} must be a whole number, not {value!r}.")
    return value


def _from_triples(items: Any, where: str) -> list[Span]:
    spans = []
    for item in items:
        if isinstance(item, dict):
            start = item.get("start", item.get("start_offset"))
            end = item.get("end", item.get("end_offset"))
            label = item.get("label")
            if isinstance(label, list):
                label = label[0] if label else None
        elif isinstance(item, (list, tuple)) and len(item) >= 3:
            start, end, label = item[0], item[1], item[2]
        else:
            raise ImportDataError(f"{where}: a span must be {{start, end, label}} or "
                                  f"[start, end, label], not {item!r}.")
        if not isinstance(label, str) or not label:
            raise ImportDataError(f"{where}: a span has no label ({item!r}).")
        spans.append(Span(_int(start, where, "start"), _int(end, where, "end"), label))
    return spans


def _label_studio(obj: dict[str, Any], where: str) -> SpanExample:
    data = obj["data"]
    text = data.get("text")
    if not isinstance(text, str):
        text = next((v for v in data.values() if isinstance(v, str)), None)
    if text is None:
        raise ImportDataError(f"{where}: the task's data has no text.")
    annotations = [a for a in (obj.get("annotations") or obj.get("completions") or [])
                   if isinstance(a, dict) and not a.get("was_cancelled")]
    if not annotations:
        return SpanExample(text=text, line=0, labelled=False)
    spans = []
    for result in annotations[0].get("result") or []:
        value = result.get("value") if isinstance(result, dict) else None
        if not isinstance(value, dict) or "start" not in value:
            continue
        labels = value.get("labels") or value.get("hypertextlabels") or []
        if not labels:
            raise ImportDataError(f"{where}: a span {value.get('start')}-{value.get('end')} "
                                  "has no label.")
        spans.extend(_from_triples([[value["start"], value["end"], labels[0]]], where))
    return SpanExample(text=text, spans=spans)


def _parse(obj: Any, where: str) -> SpanExample:
    if not isinstance(obj, dict):
        raise ImportDataError(f"{where}: expected a JSON object, found {type(obj).__name__}.")
    if isinstance(obj.get("data"), dict):
        example = _label_studio(obj, where)
    else:
        text = obj.get("text", obj.get("data"))
        if not isinstance(text, str):
            raise ImportDataError(f"{where}: no \"text\" field with the record's text.")
        for key in ("spans", "entities", "label", "labels"):
            if key in obj and obj[key] is not None:
                items = obj[key]
                if not isinstance(items, list):
                    raise ImportDataError(f"{where}: \"{key}\" must be a list of spans.")
                example = SpanExample(text=text, spans=_from_triples(items, where))
                break
        else:
            example = SpanExample(text=text, labelled=False)
    ext = obj.get("id")
    example.external_id = None if ext is None else str(ext)
    return example


def read_span_json(lines: Iterable[str], name: str) -> Iterator[SpanExample]:
    """Records of a JSONL file, or of a JSON array (first non-blank character ``[``)."""
    it = iter(lines)
    head: list[str] = []
    for line in it:
        head.append(line)
        if line.strip():
            break
    first = "".join(head).lstrip()
    if first.startswith("["):
        raw = "".join(head) + "".join(it)
        try:
            items = json.loads(raw)
        except ValueError as exc:
            raise ImportDataError(f"{name}, line {getattr(exc, 'lineno', '?')}: not valid "
                                  f"JSON ({getattr(exc, 'msg', exc)}).") from None
        for index, obj in enumerate(items, start=1):
            example = _parse(obj, f"{name}, item {index}")
            example.line = index
            yield example
        return
    number = 0
    for number, line in enumerate([*head, *it], start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise ImportDataError(f"{name}, line {number}: not valid JSON "
                                  f"({getattr(exc, 'msg', exc)}).") from None
        example = _parse(obj, f"{name}, line {number}")
        example.line = number
        yield example


def span_json_objects(records: Iterable[tuple[str | None, str, Sequence[Span]]],
                      flavour: str = "spacy") -> Iterator[dict[str, Any]]:
    """JSON objects of records ``(external id, text, spans)`` in one of
    :data:`JSON_FLAVOURS`."""
    for ext, text, spans in records:
        spans = sorted(spans)
        if flavour == "doccano":
            obj: dict[str, Any] = {"text": text,
                                   "label": [[s.start, s.end, s.label] for s in spans]}
        elif flavour == "labelstudio":
            result = [{"value": {"start": s.start, "end": s.end, "text": text[s.start:s.end],
                                 "labels": [s.label]},
                       "from_name": "label", "to_name": "text", "type": "labels"}
                      for s in spans]
            obj = {"data": {"text": text}, "annotations": [{"result": result}]}
        else:
            obj = {"text": text, "spans": [s.as_dict() for s in spans]}
        if ext is not None:
            obj = {"id": ext, **obj}
        yield obj
