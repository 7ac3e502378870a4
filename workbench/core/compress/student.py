"""Students built from a teacher without downloads.

A student spec is a short text: ``layers=3`` keeps 3 of the teacher's layers spread
evenly (for 6 layers: the 2nd, 4th and 6th: every other layer), ``layers=0,2,4`` names
them, ``hidden=192`` narrows the hidden size (heads keep their width, so the number of
heads shrinks with it) and ``ffn=768`` the feed-forward size (by default scaled with the
hidden size). Every weight is initialised from the teacher: the kept layers, and for a
narrower model the leading rows and columns of each matrix (the first heads, the first
feed-forward neurons, the first hidden dimensions).
"""
from __future__ import annotations

import re
from typing import Any

from workbench.core.errors import WorkbenchError

__all__ = ["DEFAULT_STUDENT", "parse_student_spec", "build_student", "describe_student"]

DEFAULT_STUDENT = "layers=half"
_LAYER_KEY = re.compile(r"encoder\.layer\.(\d+)\.")


def parse_student_spec(spec: str | None, teacher_config: Any) -> dict[str, Any]:
    """``{"layers": [indices], "hidden": int, "ffn": int, "heads": int}`` for ``spec``."""
    n_layers = int(teacher_config.num_hidden_layers)
    hidden = int(teacher_config.hidden_size)
    heads = int(teacher_config.num_attention_heads)
    head_dim = hidden // heads
    out: dict[str, Any] = {"layers": None, "hidden": hidden, "ffn": None}
    for part in [p.strip() for p in (spec or DEFAULT_STUDENT).split(";") if p.strip()]:
        key, _, value = part.partition("=")
        key, value = key.strip().lower(), value.strip().lower()
        if key == "layers":
            if value == "half":
                count = max(1, n_layers // 2)
                out["layers"] = [round((i + 1) * n_layers / count) - 1 for i in range(count)]
            elif "," in value:
                try:
                    out["layers"] = sorted({int(v) for v in value.split(",")})
                except ValueError:
                    raise WorkbenchError(f"Student layers must be numbers: {value!r}.") from None
            elif value.isdigit() and 1 <= int(value) <= n_layers:
                count = int(value)
                out["layers"] = [round((i + 1) * n_layers / count) - 1 for i in range(count)]
            else:
                raise WorkbenchError(f"Student layers must be 1 to {n_layers}, 'half' or a list like 0,2,4; not {value!r}.")
            if not out["layers"] or min(out["layers"]) < 0 or max(out["layers"]) >= n_layers:
                raise WorkbenchError(f"The teacher has layers 0 to {n_layers - 1}: {value!r} is not among them.")
        elif key == "hidden":
            if not value.isdigit() or not 0 < int(value) <= hidden or int(value) % head_dim:
                raise WorkbenchError(
                    f"Student hidden size must be a multiple of {head_dim} (the head width) up to {hidden}, not {value!r}.")
            out["hidden"] = int(value)
        elif key == "ffn":
            if not value.isdigit() or not 0 < int(value) <= int(teacher_config.intermediate_size):
                raise WorkbenchError(
                    f"Student ffn size must be 1 to {teacher_config.intermediate_size}, not {value!r}.")
            out["ffn"] = int(value)
        else:
            raise WorkbenchError(
                f"Unknown student setting {key!r}: use layers=N|half|0,2,4; hidden=H; ffn=F (separated by ';').")
    if out["layers"] is None:
        out["layers"] = list(range(n_layers))
    if out["ffn"] is None:
        out["ffn"] = int(teacher_config.intermediate_size) * out["hidden"] // hidden
    out["heads"] = out["hidden"] // head_dim
    return out


def describe_student(plan: dict[str, Any]) -> str:
    return (f"{len(plan['layers'])} layers ({', '.join(str(i) for i in plan['layers'])}), "
            f"hidden {plan['hidden']}, {plan['heads']} heads, ffn {plan['ffn']}")


def build_student(teacher: Any, plan: dict[str, Any]) -> Any:
    """A new classifier (sequence or token, like ``teacher``) shaped by ``plan`` with
    weights taken from ``teacher``."""
    import copy

    import torch
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    config = copy.deepcopy(teacher.config)
    config.num_hidden_layers = len(plan["layers"])
    config.hidden_size = plan["hidden"]
    config.num_attention_heads = plan["heads"]
    config.intermediate_size = plan["ffn"]
    token = "TokenClassification" in type(teacher).__name__  # an entity (span) model
    auto = AutoModelForTokenClassification if token else AutoModelForSequenceClassification
    student = auto.from_config(config, attn_implementation="eager")
    source = teacher.state_dict()
    state = {}
    for key, target in student.state_dict().items():
        match = _LAYER_KEY.search(key)
        src_key = key
        if match:
            src_key = key[: match.start(1)] + str(plan["layers"][int(match.group(1))]) + key[match.end(1):]
        if src_key not in source:
            raise WorkbenchError(f"The teacher has no weight {src_key}: cannot build this student.")
        weight = source[src_key]
        state[key] = weight[tuple(slice(0, n) for n in target.shape)].clone() if target.dim() else weight.clone()
    student.load_state_dict(state)
    with torch.no_grad():
        student.eval()
    return student
