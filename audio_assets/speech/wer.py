"""Word error rate after Whisper's English normalisation (case, punctuation, numbers, spellings)."""

from __future__ import annotations

import functools
from collections.abc import Sequence


@functools.lru_cache(maxsize=1)
def _normalizer():
    from whisper.normalizers import EnglishTextNormalizer

    return EnglishTextNormalizer()


def normalize(text: str) -> str:
    return _normalizer()(text)


def _edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1]


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER: word edits over reference words, pooled across all pairs."""
    if len(references) != len(hypotheses):
        raise ValueError("references and hypotheses differ in number")
    edits = words = 0
    for ref, hyp in zip(references, hypotheses):
        ref_words, hyp_words = normalize(ref).split(), normalize(hyp).split()
        edits += _edit_distance(ref_words, hyp_words)
        words += len(ref_words)
    return edits / words if words else float(edits > 0)
