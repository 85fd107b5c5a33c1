//! Text → tokens: Unicode word boundaries, lowercasing, stop words,
//! length limits, optional English stemming, and CJK character bigrams.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use bincode::de::Decoder;
use bincode::error::DecodeError;
use bincode::{Decode, Encode};
use unicode_segmentation::UnicodeSegmentation;

use super::stopwords::is_english_stop_word;

/// Splits text into the terms that [`TextIndex`](super::TextIndex) indexes
/// and searches.
///
/// Steps, in order:
/// 1. Words by Unicode word boundaries (UAX #29); a word must contain a
///    letter or digit (punctuation and spaces are dropped). "don't",
///    "U.S.A" and "3.14" stay one word each, unless
///    [`word_chars_only`](Self::word_chars_only) splits them further.
/// 2. Runs of CJK characters (Han, Hiragana, Katakana, Hangul) become
///    overlapping character bigrams ("東京都" → "東京", "京都"); a run of a
///    single character stays a unigram. Steps 3–6 do not apply to them.
/// 3. Lowercasing (Unicode), on by default.
/// 4. Optional removal of English stop words: Lucene's default set of 33
///    words (also bm25s's `"en"` list), compared ignoring case.
/// 5. Length limits in characters, inclusive (defaults: 1 and unlimited).
/// 6. Optional English Snowball stemming (crate feature `stem`).
///
/// ```
/// use grape_core::text::Tokenizer;
///
/// let t = Tokenizer::new().english_stop_words(true);
/// assert_eq!(t.tokenize("The Quick fox, in 東京都!"), ["quick", "fox", "東京", "京都"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Encode)]
pub struct Tokenizer {
    lowercase: bool,
    stop_words: bool,
    word_chars_only: bool,
    stem: bool,
    min_len: u32,
    max_len: u32,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Tokenizer::new()
    }
}

impl Tokenizer {
    /// Lowercasing on; no stop words, no stemming, no length limits.
    pub fn new() -> Self {
        Tokenizer {
            lowercase: true,
            stop_words: false,
            word_chars_only: false,
            stem: false,
            min_len: 1,
            max_len: u32::MAX,
        }
    }

    /// Turns lowercasing on or off (default on).
    pub fn lowercase(mut self, on: bool) -> Self {
        self.lowercase = on;
        self
    }

    /// Turns removal of English stop words on or off (default off).
    pub fn english_stop_words(mut self, on: bool) -> Self {
        self.stop_words = on;
        self
    }

    /// Also splits words at every character that is not a letter, digit or
    /// underscore, as the regular expression `\w+` does (default off):
    /// "don't" → "don", "t"; "3.14" → "3", "14"; "covid-19" stays split.
    /// With [`min_token_len`](Self::min_token_len)`(2)` this is bm25s's
    /// default tokenization (`(?u)\b\w\w+\b`).
    pub fn word_chars_only(mut self, on: bool) -> Self {
        self.word_chars_only = on;
        self
    }

    /// Turns English Snowball stemming on or off (default off).
    #[cfg(feature = "stem")]
    pub fn stemming(mut self, on: bool) -> Self {
        self.stem = on;
        self
    }

    /// Drops words shorter than `chars` characters (default 1). bm25s's
    /// default pattern keeps words of two or more.
    pub fn min_token_len(mut self, chars: usize) -> Self {
        self.min_len = u32::try_from(chars).unwrap_or(u32::MAX);
        self
    }

    /// Drops words longer than `chars` characters (default unlimited).
    pub fn max_token_len(mut self, chars: usize) -> Self {
        self.max_len = u32::try_from(chars).unwrap_or(u32::MAX);
        self
    }

    /// Whether lowercasing is on.
    pub fn is_lowercase(&self) -> bool {
        self.lowercase
    }

    /// Whether English stop words are removed.
    pub fn has_english_stop_words(&self) -> bool {
        self.stop_words
    }

    /// Whether words are split at non-word characters.
    pub fn is_word_chars_only(&self) -> bool {
        self.word_chars_only
    }

    /// Whether English stemming is on.
    pub fn is_stemming(&self) -> bool {
        self.stem
    }

    /// The terms of `text`, in order, repeats included.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut word = Words::new(self);
        let mut run: Vec<char> = Vec::new();
        for segment in text.split_word_bounds() {
            let mut rest = segment;
            while let Some(c) = rest.chars().next() {
                let cjk = is_cjk(c);
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| is_cjk(c) != cjk)
                    .map_or(rest.len(), |(i, _)| i);
                let (piece, tail) = rest.split_at(end);
                rest = tail;
                if cjk {
                    run.extend(piece.chars());
                } else {
                    flush_cjk(&mut run, &mut out);
                    if self.word_chars_only {
                        let parts = piece.split(|c: char| !(c.is_alphanumeric() || c == '_'));
                        out.extend(parts.filter_map(|part| word.process(part)));
                    } else if let Some(w) = word.process(piece) {
                        out.push(w);
                    }
                }
            }
        }
        flush_cjk(&mut run, &mut out);
        out
    }
}

/// Decoding rejects stemming in a build without the `stem` feature, since
/// such an index could not tokenize queries the way it indexed documents.
impl<Ctx> Decode<Ctx> for Tokenizer {
    fn decode<D: Decoder<Context = Ctx>>(decoder: &mut D) -> Result<Self, DecodeError> {
        let t = Tokenizer {
            lowercase: bool::decode(decoder)?,
            stop_words: bool::decode(decoder)?,
            word_chars_only: bool::decode(decoder)?,
            stem: bool::decode(decoder)?,
            min_len: u32::decode(decoder)?,
            max_len: u32::decode(decoder)?,
        };
        if t.stem && !cfg!(feature = "stem") {
            return Err(DecodeError::OtherString(
                "text index uses english stemming, which needs grape-core's `stem` feature".into(),
            ));
        }
        Ok(t)
    }
}

bincode::impl_borrow_decode!(Tokenizer);

/// Steps 3–6 for one non-CJK piece of text.
struct Words<'a> {
    config: &'a Tokenizer,
    #[cfg(feature = "stem")]
    stemmer: Option<rust_stemmers::Stemmer>,
}

impl<'a> Words<'a> {
    fn new(config: &'a Tokenizer) -> Self {
        Words {
            config,
            #[cfg(feature = "stem")]
            stemmer: config
                .stem
                .then(|| rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English)),
        }
    }

    fn process(&mut self, piece: &str) -> Option<String> {
        if !piece.chars().any(char::is_alphanumeric) {
            return None;
        }
        let word = if self.config.lowercase {
            piece.to_lowercase()
        } else {
            piece.to_string()
        };
        if self.config.stop_words && is_english_stop_word(&word) {
            return None;
        }
        let chars = word.chars().count();
        if chars < self.config.min_len as usize || chars > self.config.max_len as usize {
            return None;
        }
        #[cfg(feature = "stem")]
        if let Some(stemmer) = &self.stemmer {
            let stem = stemmer.stem(&word).into_owned();
            return (!stem.is_empty()).then_some(stem);
        }
        Some(word)
    }
}

/// Emits the bigrams of a CJK run (or its single character) and clears it.
fn flush_cjk(run: &mut Vec<char>, out: &mut Vec<String>) {
    match run.len() {
        0 => {}
        1 => out.push(run[0].to_string()),
        _ => {
            for pair in run.windows(2) {
                out.push(pair.iter().collect());
            }
        }
    }
    run.clear();
}

/// Han, Hiragana, Katakana and Hangul letters (not CJK punctuation).
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        // Ideographic iteration and closing marks, number zero (々 〆 〇),
        // Hangzhou numerals, kana repeat marks, 〻 〼.
        0x3005..=0x3007 | 0x3021..=0x3029 | 0x3031..=0x3035 | 0x303B..=0x303C
        // Hiragana, Katakana (without ゠ and the middle dot ・), phonetic extensions.
        | 0x3041..=0x309F | 0x30A1..=0x30FA | 0x30FC..=0x30FF | 0x31F0..=0x31FF
        // Han: extension A, unified ideographs, compatibility ideographs.
        | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF
        // Halfwidth Katakana.
        | 0xFF66..=0xFF9F
        // Hangul: Jamo, compatibility Jamo, extended Jamo, syllables.
        | 0x1100..=0x11FF | 0x3131..=0x318E | 0xA960..=0xA97F | 0xAC00..=0xD7AF
        | 0xD7B0..=0xD7FF
        // Kana supplement and extensions.
        | 0x1B000..=0x1B16F
        // Han: extensions B–F, compatibility supplement, extensions G–H.
        | 0x20000..=0x2EBEF | 0x2F800..=0x2FA1F | 0x30000..=0x323AF
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(t: &Tokenizer, s: &str) -> Vec<String> {
        t.tokenize(s)
    }

    #[test]
    fn words_lowercase_and_punctuation() {
        let t = Tokenizer::new();
        assert_eq!(
            toks(&t, "Hello, World! It's 3.14 -- ÉCOLE_ab"),
            ["hello", "world", "it's", "3.14", "école_ab"]
        );
        assert_eq!(
            toks(&t.clone().lowercase(false), "Hello World"),
            ["Hello", "World"]
        );
        assert!(toks(&t, "").is_empty());
        assert!(toks(&t, " ,.;!? ").is_empty());
    }

    #[test]
    fn word_chars_only_splits_like_bm25s() {
        let t = Tokenizer::new().word_chars_only(true).min_token_len(2);
        assert_eq!(
            toks(&t, "Don't use 3.14 or COVID-19 in U.S.A; snake_case ok"),
            [
                "don",
                "use",
                "14",
                "or",
                "covid",
                "19",
                "in",
                "snake_case",
                "ok"
            ]
        );
    }

    #[test]
    fn stop_words_and_length_limits() {
        let t = Tokenizer::new().english_stop_words(true);
        assert_eq!(toks(&t, "The cat IS on the mat"), ["cat", "mat"]);
        // Stop words are matched ignoring case even without lowercasing.
        let t = t.lowercase(false);
        assert_eq!(toks(&t, "The Cat"), ["Cat"]);
        let t = Tokenizer::new().min_token_len(2).max_token_len(5);
        assert_eq!(toks(&t, "a bb ccccc dddddd é éé"), ["bb", "ccccc", "éé"]);
    }

    #[test]
    fn cjk_runs_become_bigrams() {
        let t = Tokenizer::new();
        // Chinese: one run of four characters → three bigrams.
        assert_eq!(toks(&t, "向量数据"), ["向量", "量数", "数据"]);
        // A lone character is a unigram; punctuation splits runs.
        assert_eq!(toks(&t, "猫。狗很好"), ["猫", "狗很", "很好"]);
        // Japanese: Kanji, Hiragana and Katakana bigram across scripts.
        assert_eq!(
            toks(&t, "東京でラーメン"),
            ["東京", "京で", "でラ", "ラー", "ーメ", "メン"]
        );
        // Korean syllables.
        assert_eq!(toks(&t, "한국어 검색"), ["한국", "국어", "검색"]);
        // Mixed with Latin: the Latin word splits the run.
        assert_eq!(toks(&t, "使用Rust编写"), ["使用", "rust", "编写"]);
        // Length limits and stop words leave CJK alone.
        let t = Tokenizer::new().min_token_len(3).english_stop_words(true);
        assert_eq!(toks(&t, "猫 the cats"), ["猫", "cats"]);
    }

    #[test]
    fn cjk_ranges() {
        for c in ['中', '々', 'ひ', 'カ', 'ー', 'ｶ', '한', 'ᄀ', '𠀀'] {
            assert!(is_cjk(c), "{c}");
        }
        for c in ['a', '。', '、', '・', '「', '１', 'Ａ', ' '] {
            assert!(!is_cjk(c), "{c}");
        }
    }

    #[cfg(feature = "stem")]
    #[test]
    fn english_stemming() {
        let t = Tokenizer::new().english_stop_words(true).stemming(true);
        assert_eq!(
            toks(
                &t,
                "The running runners ran generously; connections connected"
            ),
            ["run", "runner", "ran", "generous", "connect", "connect"]
        );
        assert!(t.is_stemming());
    }

    #[test]
    fn bincode_round_trip() {
        let t = Tokenizer::new().english_stop_words(true).min_token_len(2);
        let config = bincode::config::standard();
        let bytes = bincode::encode_to_vec(&t, config).unwrap();
        let (back, _): (Tokenizer, usize) = bincode::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(back, t);
    }
}
