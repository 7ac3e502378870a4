"""Vocabulary trimming: keep the word pieces a project's texts use.

Half of MiniLM's weights are word embeddings for a 30k-piece vocabulary of which a
project uses a fraction. The trimmed vocabulary keeps, in their original order:

* every piece the tokenizer produces for the project's texts,
* the special tokens (padding, unknown, class, separator, mask, added tokens),
* every single-character piece and its ``##`` continuation, the WordPiece fallbacks.

WordPiece takes the longest known prefix at each position. A piece kept for a text is
still the longest match (any longer match would have been in the original vocabulary and
chosen before), so the project's texts tokenize to the same pieces and the trimmed model
gives identical logits; this is verified before anything is written. A new word still
tokenizes (into shorter pieces where its original pieces were dropped), and becomes
``[UNK]`` exactly where the original tokenizer gives ``[UNK]``: a character missing from
the original vocabulary is missing from the trimmed one too.

The tokenizer is remapped with the ``tokenizers`` library (the vocabulary, the special
token ids of the post-processor, padding and added tokens).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from workbench.core.errors import WorkbenchError

__all__ = ["kept_token_ids", "remap_tokenizer_json", "trim_model", "check_same_tokens"]

log = logging.getLogger(__name__)

#: Texts are tokenized this many at a time while collecting the pieces used.
_CHUNK = 2048


def _wordpiece(tok_json: dict[str, Any]) -> dict[str, Any]:
    model = tok_json.get("model") or {}
    if model.get("type") != "WordPiece":
        raise WorkbenchError(
            f"Vocabulary trimming supports WordPiece tokenizers (BERT, MiniLM); this one is "
            f"{model.get('type', 'unknown')}."
        )
    return model


def kept_token_ids(tok_json: dict[str, Any], texts: Sequence[str]) -> list[int]:
    """The sorted ids to keep: pieces used by ``texts``, specials and 1-character pieces."""
    from tokenizers import Tokenizer

    model = _wordpiece(tok_json)
    vocab: dict[str, int] = model["vocab"]
    prefix = model.get("continuing_subword_prefix", "##")
    tokenizer = Tokenizer.from_str(json.dumps(tok_json))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    keep: set[int] = set()
    for start in range(0, len(texts), _CHUNK):
        for enc in tokenizer.encode_batch(list(texts[start:start + _CHUNK])):
            keep.update(enc.ids)
    keep.update(int(t["id"]) for t in tok_json.get("added_tokens", []))
    unk = model.get("unk_token")
    for piece, i in vocab.items():
        bare = piece[len(prefix):] if piece.startswith(prefix) else piece
        if len(bare) == 1 or piece == unk:
            keep.add(int(i))
    return sorted(keep)


def remap_tokenizer_json(tok_json: dict[str, Any], keep: Sequence[int]) -> dict[str, Any]:
    """A copy of ``tok_json`` whose vocabulary holds only ``keep`` (renumbered in order)."""
    model = _wordpiece(tok_json)
    new_id = {old: new for new, old in enumerate(keep)}
    out = json.loads(json.dumps(tok_json))
    id_to_piece = {i: p for p, i in model["vocab"].items()}
    out["model"]["vocab"] = {id_to_piece[old]: new for new, old in enumerate(keep)}
    for tok in out.get("added_tokens", []):
        tok["id"] = new_id[int(tok["id"])]
    post = out.get("post_processor")
    for proc in ([post] if post and post.get("type") != "Sequence" else (post or {}).get("processors", [])):
        kind = proc.get("type")
        if kind == "TemplateProcessing":
            for spec in proc.get("special_tokens", {}).values():
                spec["ids"] = [new_id[int(i)] for i in spec["ids"]]
        elif kind in ("BertProcessing", "RobertaProcessing"):
            for key in ("sep", "cls"):
                proc[key] = [proc[key][0], new_id[int(proc[key][1])]]
        elif kind not in ("ByteLevel",):
            raise WorkbenchError(f"Vocabulary trimming does not know the {kind} post-processor.")
    if out.get("padding"):
        out["padding"]["pad_id"] = new_id[int(out["padding"]["pad_id"])]
    return out


def check_same_tokens(old_json: dict[str, Any], new_json: dict[str, Any], keep: Sequence[int],
                      texts: Sequence[str]) -> int:
    """Raise unless every text tokenizes to the same pieces; returns the texts checked."""
    from tokenizers import Tokenizer

    old, new = Tokenizer.from_str(json.dumps(old_json)), Tokenizer.from_str(json.dumps(new_json))
    for tok in (old, new):
        tok.no_truncation()
        tok.no_padding()
    for start in range(0, len(texts), _CHUNK):
        chunk = list(texts[start:start + _CHUNK])
        for i, (a, b) in enumerate(zip(old.encode_batch(chunk), new.encode_batch(chunk), strict=True)):
            if a.ids != [keep[j] for j in b.ids]:
                raise WorkbenchError(
                    f"The trimmed tokenizer splits text {start + i + 1} differently; nothing was written."
                )
    return len(texts)


def trim_model(model: Any, keep: Sequence[int]) -> Any:
    """Keep only the rows ``keep`` of the model's word embeddings (in place); returns it."""
    import torch

    old = model.get_input_embeddings()
    index = torch.as_tensor(list(keep), dtype=torch.long)
    new = torch.nn.Embedding(len(keep), old.weight.shape[1], padding_idx=None)
    with torch.no_grad():
        new.weight.copy_(old.weight.index_select(0, index))
    pad = getattr(model.config, "pad_token_id", None)
    if pad is not None:
        model.config.pad_token_id = list(keep).index(pad) if pad in keep else None
        new.padding_idx = model.config.pad_token_id
    model.set_input_embeddings(new)
    model.config.vocab_size = len(keep)
    return model


def write_tokenizer_folder(src: Path, dst: Path, new_json: dict[str, Any], keep: Sequence[int]) -> None:
    """Write the remapped tokenizer files of ``src`` into ``dst``."""
    (dst / "tokenizer.json").write_text(json.dumps(new_json, ensure_ascii=False), encoding="utf-8")
    new_id = {old: new for new, old in enumerate(keep)}
    cfg_path = src / "tokenizer_config.json"
    if cfg_path.is_file():
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
        decoder = cfg.get("added_tokens_decoder")
        if isinstance(decoder, dict):
            cfg["added_tokens_decoder"] = {str(new_id[int(k)]): v for k, v in decoder.items()
                                           if int(k) in new_id}
        (dst / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")
    special = src / "special_tokens_map.json"
    if special.is_file():
        (dst / special.name).write_text(special.read_text(encoding="utf-8"), encoding="utf-8")
    if (src / "vocab.txt").is_file():
        pieces = sorted(new_json["model"]["vocab"].items(), key=lambda kv: kv[1])
        (dst / "vocab.txt").write_text("".join(p + "\n" for p, _ in pieces), encoding="utf-8")
