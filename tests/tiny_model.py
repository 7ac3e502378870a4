"""A tiny randomly initialised BERT with a locally built tokenizer, for fast ML tests."""
from __future__ import annotations

from pathlib import Path

WORDS = (
    "the a an and or but to of in on for with is are was be it this that my your our "
    "order refund money charge card payment bill invoice account login password reset "
    "delivery shipping package late arrived broken damaged cancel subscription help please "
    "thanks good bad great terrible love hate fast slow happy sad not very app crash error "
    "bug feature request question where when how why what can cannot would like want need"
).split()


def make_tiny_base_model(folder: Path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Write a random BERT base model (config, safetensors, tokenizer) into ``folder``."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(WORDS))
    vocab += [c for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + [
        "##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"
    ]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    # transformers 5 ignores vocab_file here (every word would become [UNK]): pass the dict.
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    return folder
