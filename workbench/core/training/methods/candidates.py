"""Fitting and scoring the few-label candidates (TF-IDF, embeddings, SetFit) on index sets.

A :class:`Workspace` holds every labelled text of the run once (token ids, and the frozen
encoder's embeddings, computed on first use), so cross-validation folds and the final
model reuse them.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from workbench.core.training.methods import linear
from workbench.core.training.methods.modules import EncoderHead, TfidfHead

__all__ = ["Workspace", "work_seconds"]


def work_seconds() -> float:
    """The process's CPU seconds per torch thread: about wall-clock seconds on an idle
    machine, but not stretched when other programs share the cores, so ``auto``'s time
    budget picks the same candidates on a busy machine as on a quiet one."""
    import torch

    return time.process_time() / max(1, torch.get_num_threads())


class Workspace:
    """The labelled texts of one run and what the candidates share."""

    def __init__(self, texts: Sequence[str], y: np.ndarray, *, multi_label: bool, n_labels: int,
                 tokenizer: Any, base_path: Any, max_length: int, seed: int, balanced: bool,
                 should_stop: Callable[[], bool], emit: Callable[..., None]) -> None:
        self.texts = list(texts)
        self.y = y
        self.multi = multi_label
        self.k = n_labels
        self.tokenizer = tokenizer
        self.base_path = base_path
        self.max_length = max_length
        self.seed = seed
        self.balanced = balanced
        self.should_stop = should_stop
        self.emit = emit
        self.ids = linear.token_ids(tokenizer, self.texts, max_length)
        self._embeddings: np.ndarray | None = None
        self.seconds: dict[str, float] = {}  # work_seconds of shared steps
        self.samples = 0

    @property
    def mean_tokens(self) -> float | None:
        """Mean tokens per text (SetFit's pair budget depends on it)."""
        return float(np.mean([len(x) for x in self.ids])) if self.ids else None

    # ------------------------------------------------------------------ models
    def new_encoder_head(self) -> EncoderHead:
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        try:
            torch.manual_seed(self.seed)
            from workbench.core.compress.pruned_layout import is_head_pruned, load_pruned_base

            if is_head_pruned(self.base_path):  # a pruned run as the base: narrowed attention kept
                enc = load_pruned_base(self.base_path, ["a", "b"], multi_label=False).base_model
            else:
                enc = AutoModel.from_pretrained(str(self.base_path), trust_remote_code=False,
                                                attn_implementation="eager", use_safetensors=True)
        finally:
            hf_logging.set_verbosity(verbosity)
        return EncoderHead(enc, self.k)

    def embeddings(self) -> np.ndarray:
        """Frozen-encoder embeddings of every text (computed once)."""
        if self._embeddings is None:
            model = self.new_encoder_head()
            t = work_seconds()  # the pass itself (SetFit's time estimate uses it)
            self._embeddings = self.embed_with(model, "Computing sentence embeddings")
            self.seconds["embeddings"] = work_seconds() - t
        return self._embeddings

    def embed_with(self, model: EncoderHead, message: str, idx: Sequence[int] | None = None) -> np.ndarray:
        texts = self.texts if idx is None else [self.texts[i] for i in idx]
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            self.emit("train", done[0], len(texts), message)

        return linear.embed_texts(model, self.tokenizer, texts, max_length=self.max_length,
                                  should_stop=self.should_stop, on_batch=tick)

    # ------------------------------------------------------------------ candidates
    def fit_tfidf(self, train: np.ndarray) -> TfidfHead:
        import torch

        feat = linear.TfidfFeaturizer(len(self.tokenizer), self.tokenizer.all_special_ids)
        x = feat.fit_transform([self.ids[i] for i in train])
        w, b = linear.fit_logistic(x, self.y[train], multi_label=self.multi, n_labels=self.k,
                                   c=linear.TFIDF_C, balanced=self.balanced, seed=self.seed)
        return TfidfHead(torch.from_numpy(feat.idf()), torch.from_numpy(w), torch.from_numpy(b))

    def tfidf_probs(self, model: TfidfHead, idx: np.ndarray) -> np.ndarray:
        feat = linear.TfidfFeaturizer(len(self.tokenizer), self.tokenizer.all_special_ids)
        counts = feat.counts([self.ids[i] for i in idx]).toarray().astype(np.float32)
        tf = np.where(counts > 0, np.log(np.maximum(counts, 1.0)) + 1.0, 0.0)
        x = tf * model.idf.numpy()
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        logits = linear.logits_of(x, model.weight.detach().numpy(), model.bias.detach().numpy())
        return linear.probs_of(logits, self.multi)

    def fit_head(self, emb: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return linear.fit_logistic(emb[train], self.y[train], multi_label=self.multi, n_labels=self.k,
                                   c=linear.EMBED_C, balanced=self.balanced, seed=self.seed)

    def head_probs(self, emb: np.ndarray, head: tuple[np.ndarray, np.ndarray], idx: np.ndarray) -> np.ndarray:
        return linear.probs_of(linear.logits_of(emb[idx], *head), self.multi)

    def set_head(self, model: EncoderHead, head: tuple[np.ndarray, np.ndarray]) -> EncoderHead:
        import torch

        with torch.no_grad():
            model.head.weight.copy_(torch.from_numpy(head[0]))
            model.head.bias.copy_(torch.from_numpy(head[1]))
        return model

    def fit_setfit(self, train: np.ndarray, val: np.ndarray | None = None,
                   label: str = "SetFit", delivered: bool = False) -> tuple[EncoderHead, Any]:
        """SetFit on ``train`` (early stopping on ``val`` when given; ``delivered``: the
        delivered model's pair budget); returns the encoder head with its
        logistic-regression head fitted, and the training result."""
        from workbench.core.training.methods.setfit_method import train_setfit_encoder

        model = self.new_encoder_head()
        tr_texts = [self.texts[i] for i in train]
        evaluate = None
        if val is not None and len(val):
            from workbench.core.training.methods.crossval import fold_macro_f1

            def evaluate(m: Any) -> float:
                emb_tr = linear.embed_texts(m, self.tokenizer, tr_texts, max_length=self.max_length)
                emb_va = linear.embed_texts(m, self.tokenizer, [self.texts[i] for i in val],
                                            max_length=self.max_length)
                head = linear.fit_logistic(emb_tr, self.y[train], multi_label=self.multi, n_labels=self.k,
                                           c=linear.EMBED_C, balanced=self.balanced, seed=self.seed)
                return fold_macro_f1(self.y[val], linear.probs_of(linear.logits_of(emb_va, *head), self.multi),
                                     self.multi)

        def on_step(step: int, total: int, loss: float, rate: float) -> None:
            self.emit("train", step, total, f"{label}: step {step}/{total}, loss {loss:.4f}", loss=loss,
                      samples_per_s=rate)

        result = train_setfit_encoder(
            model, self.tokenizer, tr_texts, self.y[train], multi_label=self.multi,
            max_length=self.max_length, seed=self.seed, delivered=delivered, evaluate=evaluate,
            should_stop=self.should_stop, on_step=on_step)
        self.samples += result.samples
        if result.state is not None:
            model.load_state_dict(result.state)
        emb = linear.embed_texts(model, self.tokenizer, tr_texts, max_length=self.max_length)
        head = linear.fit_logistic(emb, self.y[train], multi_label=self.multi, n_labels=self.k,
                                   c=linear.EMBED_C, balanced=self.balanced, seed=self.seed)
        return self.set_head(model, head), result

    def setfit_probs(self, model: EncoderHead, idx: np.ndarray) -> np.ndarray:
        emb = linear.embed_texts(model, self.tokenizer, [self.texts[i] for i in idx], max_length=self.max_length)
        return linear.probs_of(linear.logits_of(emb, model.head.weight.detach().numpy(),
                                                model.head.bias.detach().numpy()), self.multi)

    # ------------------------------------------------------------------ one call per candidate
    def fit_predict(self, name: str, train: np.ndarray, held: np.ndarray) -> tuple[Any, np.ndarray]:
        """(fitted model, probabilities on ``held``) of candidate ``name``."""
        if name == "tfidf":
            model = self.fit_tfidf(train)
            return model, self.tfidf_probs(model, held)
        if name == "embeddings":
            emb = self.embeddings()
            head = self.fit_head(emb, train)
            return head, self.head_probs(emb, head, held)
        if name == "setfit":
            model, _r = self.fit_setfit(train)
            return model, self.setfit_probs(model, held)
        raise ValueError(name)

    def final_model(self, name: str, train: np.ndarray, val: np.ndarray | None = None) -> tuple[Any, dict[str, Any]]:
        """The delivered model of candidate ``name`` trained on ``train`` (a torch module)."""
        if name == "tfidf":
            return self.fit_tfidf(train), {}
        if name == "embeddings":
            emb = self.embeddings()
            return self.set_head(self.new_encoder_head(), self.fit_head(emb, train)), {}
        model, result = self.fit_setfit(train, val, label="SetFit (final model)", delivered=True)
        info = {"setfit_steps": result.steps, "setfit_history": result.history,
                "stopped": result.cancelled}
        return model, info

    def probs(self, name: str, model: Any, idx: np.ndarray) -> np.ndarray:
        if name == "tfidf":
            return self.tfidf_probs(model, idx)
        return self.setfit_probs(model, idx)
