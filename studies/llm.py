"""Decoder-only LLMs for long-context decoding (the InstInfer evaluation's models), FP16.

Dimensions from each model's paper and released configuration:
- OPT-13B and OPT-30B: S. Zhang et al., "OPT: Open Pre-trained Transformer Language Models",
  arXiv 2205.01068, Table 1 (layers, heads, d_model); FFN = 4 d_model and vocabulary 50272 as
  in the released configs (ffn_dim, vocab_size); input and output embeddings tied.
- Llama-2-13B: H. Touvron et al., "Llama 2", arXiv 2307.09288, and its released config
  (hidden_size 5120, intermediate_size 13824, 40 layers, 40 heads, vocab 32000); SwiGLU FFN
  (three matrices), untied output embedding.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LLM:
    """A decoder-only transformer: what a decode step reads and computes."""

    name: str
    layers: int
    hidden: int
    heads: int
    ffn: int
    vocab: int
    gated: bool      # SwiGLU FFN (three matrices) instead of two
    tied: bool       # output embedding shares the input embedding
    source: str
    word_bytes: int = 2  # FP16

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def weight_bytes(self) -> float:
        """Parameters x 2 B: attention (4 d^2) and FFN per layer, plus the embeddings."""
        ffn_mats = 3 if self.gated else 2
        per_layer = 4 * self.hidden ** 2 + ffn_mats * self.hidden * self.ffn
        embed = self.vocab * self.hidden * (1 if self.tied else 2)
        return float((self.layers * per_layer + embed) * self.word_bytes)

    def kv_bytes_per_token(self) -> float:
        """K and V of every layer: 2 x layers x hidden x 2 B (storage.md)."""
        return float(2 * self.layers * self.hidden * self.word_bytes)


_OPT = "OPT (arXiv 2205.01068) Table 1; ffn_dim and vocab_size from the released config"
LLMS = {
    "opt-13b": LLM("OPT-13B", 40, 5120, 40, 20480, 50272, False, True, _OPT),
    "opt-30b": LLM("OPT-30B", 48, 7168, 56, 28672, 50272, False, True, _OPT),
    "opt-66b": LLM("OPT-66B", 64, 9216, 72, 36864, 50272, False, True, _OPT),
    "llama-2-13b": LLM("Llama-2-13B", 40, 5120, 40, 13824, 32000, True, False,
                       "Llama 2 (arXiv 2307.09288) and its released config"),
}


def llm(name: str) -> LLM:
    """A model by name (case-insensitive); the error lists the known ones."""
    key = name.strip().lower()
    if key not in LLMS:
        raise ValueError(f"unknown LLM '{name}' (models: {', '.join(LLMS)})")
    return LLMS[key]
