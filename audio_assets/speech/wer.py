"""Word error rate (jiwer) after Whisper's normalisation: the English normaliser (case, punctuation,
numbers, spellings, so "one" matches "1") for English, Whisper's basic one (case, punctuation,
accents) for other languages."""

from __future__ import annotations

import functools
from collections.abc import Sequence


@functools.lru_cache(maxsize=2)
def _normalizer(english: bool):
    from whisper.normalizers import BasicTextNormalizer, EnglishTextNormalizer

    # Accents are dropped for other languages: reference transcripts, such as the Asterisk prompts',
    # often leave them out ("Desole, vous avez des problemes").
    return EnglishTextNormalizer() if english else BasicTextNormalizer(remove_diacritics=True)


def normalize(text: str, language: str = "en") -> str:
    return _normalizer(language == "en")(text)


def word_error_rate(
    references: Sequence[str], hypotheses: Sequence[str], languages: str | Sequence[str] = "en"
) -> float:
    """Corpus WER: word edits over reference words, pooled across all pairs; ``languages`` is one code
    for all pairs or one per pair (each pair is normalised for its own language)."""
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError("references and hypotheses differ in number")
    if isinstance(languages, str):
        languages = [languages] * len(references)
    refs = [normalize(r, lang) for r, lang in zip(references, languages)]
    hyps = [normalize(h, lang) for h, lang in zip(hypotheses, languages)]
    # jiwer refuses empty references; pairs with one count every hypothesis word as an insertion
    kept = [(r, h) for r, h in zip(refs, hyps) if r.split()]
    insertions = sum(len(h.split()) for r, h in zip(refs, hyps) if not r.split())
    if not kept:
        return float(insertions > 0)
    out = jiwer.process_words([r for r, _ in kept], [h for _, h in kept])
    words = sum(len(r.split()) for r, _ in kept)
    return (out.substitutions + out.deletions + out.insertions + insertions) / words
