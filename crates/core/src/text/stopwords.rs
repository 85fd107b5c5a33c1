//! The English stop-word list.
//!
//! Lucene's default English stop set (`EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`,
//! 33 words), which is also bm25s's `"en"` list: removing the same words
//! keeps BM25 scores comparable with those libraries.

/// Sorted, lower case, for binary search.
pub(crate) const ENGLISH: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Whether `word` (compared ignoring ASCII case) is an English stop word.
pub(crate) fn is_english_stop_word(word: &str) -> bool {
    // The longest stop word has five letters.
    if word.len() > 5 {
        return false;
    }
    let mut buf = [0u8; 5];
    let lower = &mut buf[..word.len()];
    lower.copy_from_slice(word.as_bytes());
    lower.make_ascii_lowercase();
    ENGLISH
        .binary_search_by(|w| w.as_bytes().cmp(lower))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_sorted_and_lookup_ignores_case() {
        assert!(ENGLISH.windows(2).all(|w| w[0] < w[1]));
        assert!(is_english_stop_word("the"));
        assert!(is_english_stop_word("The"));
        assert!(is_english_stop_word("THERE"));
        assert!(!is_english_stop_word("cat"));
        assert!(!is_english_stop_word("these1"));
        assert!(!is_english_stop_word("théir"));
    }
}
