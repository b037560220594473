"""Word error rate: jiwer's edit counts after Whisper's normalisers, pooled over pairs."""

import pytest

from audio_assets.speech.wer import normalize, word_error_rate

pytestmark = pytest.mark.fast


def test_counts_substitutions_deletions_and_insertions_over_reference_words():
    # 1 substitution + 1 deletion over 4 words, then 1 insertion over 2 words: 3 edits / 6 words
    refs = ["the birch canoe slid", "smooth planks"]
    hyps = ["the birch canoe", "smooth planks today"]
    assert word_error_rate(refs, hyps) == pytest.approx(2 / 6)
    assert word_error_rate(["a b c d"], ["a x c"]) == pytest.approx(2 / 4)


def test_english_normaliser_forgives_case_punctuation_and_number_spelling():
    assert word_error_rate(["Press one, then two."], ["press 1 then 2"]) == 0.0
    assert normalize("Colour!") == normalize("color")


def test_other_languages_drop_case_punctuation_and_accents():
    assert word_error_rate(["Désolé, vous avez des problèmes"], ["desole vous avez des problemes"], "fr") == 0.0
    assert word_error_rate(["Désolé"], ["désolée"], "fr") == 1.0


def test_languages_per_pair():
    refs, hyps = ["Press one.", "Composez le un."], ["press 1", "composez le un"]
    assert word_error_rate(refs, hyps, ["en", "fr"]) == 0.0


def test_empty_references():
    assert word_error_rate([""], [""]) == 0.0
    assert word_error_rate([""], ["hello"]) == 1.0
    # an empty reference's hypothesis words are insertions against the other pairs' words
    assert word_error_rate(["", "the small pup gnawed"], ["hello", "the small pup gnawed"]) == pytest.approx(1 / 4)
    with pytest.raises(ValueError, match="differ in number"):
        word_error_rate(["a"], [])
