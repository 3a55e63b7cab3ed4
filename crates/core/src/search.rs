//! What a search means, once, for every store: the in-memory fake follows it literally and the
//! SQLite and DynamoDB stores are tested against the same cases.

use crate::contracts::{ImageRecord, MatchedWord, RecordHit, RecordStatus, WordSource};
use crate::ports::SearchQuery;
use crate::themes::Themes;

/// The words of a text, as the text index holds them: lower-case runs of letters and digits.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether a record answers a query (ignoring paging).
pub fn matches(record: &ImageRecord, query: &SearchQuery) -> bool {
    if query.status.is_some_and(|status| record.status != status) {
        return false;
    }
    if query.safe_only && !record.safe {
        return false;
    }
    if query.unsafe_only && (record.safe || record.status != RecordStatus::Analyzed) {
        return false;
    }
    if query
        .verdict
        .is_some_and(|verdict| record.verdict() != verdict)
    {
        return false;
    }
    let carries = |name: &String| carries(record, name, query.min_confidence);
    if !query.labels.is_empty() && !query.labels.iter().any(carries) {
        return false;
    }
    if !query
        .all_labels
        .iter()
        .all(|group| group.iter().any(carries))
    {
        return false;
    }
    if query.not_labels.iter().any(carries) {
        return false;
    }
    if !query.words.is_empty() && evidence(record, query, true).is_empty() {
        return false;
    }
    if let Some(text) = &query.text {
        let wanted = words(text);
        let have = record
            .text
            .as_ref()
            .map(|t| words(&t.full_text))
            .unwrap_or_default();
        if wanted.is_empty() || !wanted.iter().all(|w| have.contains(w)) {
            return false;
        }
    }
    true
}

/// Whether the record carries `name` as a label name or a parent at `min_confidence` or above.
fn carries(record: &ImageRecord, name: &str, min_confidence: f32) -> bool {
    record.labels.iter().any(|label| {
        label.confidence >= min_confidence && is_named(label, |own| own.eq_ignore_ascii_case(name))
    })
}

/// Whether the label's name or one of its parents is one `wanted` accepts: a search for a
/// parent (`Animal`) finds its children (`Cat`).
fn is_named(label: &crate::contracts::Label, mut wanted: impl FnMut(&str) -> bool) -> bool {
    std::iter::once(&label.name)
        .chain(&label.parents)
        .any(|own| wanted(own))
}

/// The record's labels that meet the query's wanted labels (any clause) and confidence: "why it
/// matched". Excluded labels never appear: a record that carries one is not a result.
pub fn matching_labels<'r>(
    record: &'r ImageRecord,
    query: &SearchQuery,
) -> Vec<&'r crate::contracts::Label> {
    let wanted = query.labels.iter().chain(query.all_labels.iter().flatten());
    record
        .labels
        .iter()
        .filter(|label| label.confidence >= query.min_confidence)
        .filter(|label| {
            is_named(label, |own| {
                wanted.clone().any(|q| q.eq_ignore_ascii_case(own))
            })
        })
        .collect()
}

/// The order of results: newest upload first, then by id so pages are stable.
pub fn newest_first(a: &ImageRecord, b: &ImageRecord) -> std::cmp::Ordering {
    b.uploaded_at
        .cmp(&a.uploaded_at)
        .then_with(|| a.id.cmp(&b.id))
}

/// The cursor after `record`: its sort key.
pub fn cursor_after(record: &ImageRecord) -> String {
    format!("{}:{}", record.uploaded_at.timestamp_micros(), record.id)
}

/// The upload time (µs) and record id a [`cursor_after`] cursor holds; `None` for anything else.
pub fn parse_cursor(cursor: &str) -> Option<(i64, &str)> {
    let (micros, id) = cursor.split_once(':')?;
    Some((micros.parse().ok()?, id))
}

/// Whether `record` comes after `cursor` in [`newest_first`] order. A cursor that does not parse
/// matches nothing, so a bad cursor yields an empty page rather than the first page again.
pub fn is_after_cursor(record: &ImageRecord, cursor: &str) -> bool {
    let Some((micros, id)) = parse_cursor(cursor) else {
        return false;
    };
    let own = record.uploaded_at.timestamp_micros();
    own < micros || (own == micros && record.id.as_str() > id)
}

/// Words a `query` search ignores: they name nothing a label, a theme or a sign could show.
pub const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "any", "are", "as", "at", "by", "for", "from", "in", "into", "is", "it",
    "its", "of", "on", "or", "some", "that", "the", "their", "there", "this", "to", "with",
    "image", "photo", "picture", "pic", "shot",
];

/// What a word found only in a photo's text counts for: a sign saying "beach" is weaker
/// evidence of a beach than a label at full confidence, and stronger than a label at 25 %.
pub const TEXT_WEIGHT: f32 = 0.5;

/// One word of a `query` search, as parsed: folded, and the theme it names if any (expanded at
/// query time, like `--theme`).
#[derive(Debug, Clone, PartialEq)]
pub struct QueryWord {
    /// The word, lower case and singular ([`fold`]).
    pub word: String,
    /// The theme the word names and its labels, when it names one.
    pub theme: Option<(String, Vec<String>)>,
}

/// A word in the form `query` matching compares: lower case, and simple English plurals made
/// singular (`beaches` → `beach`, `puppies` → `puppy`, `dogs` → `dog`). Both sides are folded
/// the same way, so a rule that misses (`buses` → `buse`) misses on both and still matches its
/// own plural; it never makes two different singular words equal.
pub fn fold(word: &str) -> String {
    let word = word.to_lowercase();
    let chars = word.chars().count();
    if chars > 4 && word.ends_with("ies") {
        return format!("{}y", &word[..word.len() - 3]);
    }
    if ["sses", "xes", "ches", "shes"]
        .iter()
        .any(|end| word.ends_with(end))
    {
        return word[..word.len() - 2].to_owned();
    }
    if chars > 3 && word.ends_with('s') && !["ss", "us", "is"].iter().any(|e| word.ends_with(e)) {
        return word[..word.len() - 1].to_owned();
    }
    word
}

/// The words of a `query` search, folded, without stop-words or repeats, each with the theme
/// it names (a theme's name folded the same way: `animals` is named by `animal`).
pub fn query_words(text: &str, themes: &Themes) -> Vec<QueryWord> {
    let mut found: Vec<QueryWord> = Vec::new();
    for word in words(text) {
        if STOP_WORDS.contains(&word.as_str()) {
            continue;
        }
        let word = fold(&word);
        if STOP_WORDS.contains(&word.as_str()) || found.iter().any(|w| w.word == word) {
            continue;
        }
        let theme = themes
            .themes
            .iter()
            .find(|(name, _)| fold(name) == word)
            .map(|(name, labels)| (name.clone(), labels.clone()));
        found.push(QueryWord { word, theme });
    }
    found
}

/// The query's words the record meets, each with its best evidence: a label's name, parent or
/// category word (weight: its confidence / 100, at `min_confidence` or above), a theme the
/// word names that the record's labels meet (its best such label's confidence / 100), or a
/// word of its text ([`TEXT_WEIGHT`]). On a tie a label wins over a theme, a theme over text.
pub fn word_matches(record: &ImageRecord, query: &SearchQuery) -> Vec<MatchedWord> {
    evidence(record, query, false)
}

/// [`word_matches`], or with `first_only` just the first evidence found, for [`matches`].
fn evidence(record: &ImageRecord, query: &SearchQuery, first_only: bool) -> Vec<MatchedWord> {
    let mut matched = Vec::new();
    if query.words.is_empty() {
        return matched;
    }
    let labels: Vec<&crate::contracts::Label> = record
        .labels
        .iter()
        .filter(|label| label.confidence >= query.min_confidence)
        .collect();
    let text = record.text.as_ref().map_or("", |t| t.full_text.as_str());
    for wanted in &query.words {
        // Splitting and folding names is what costs: skip those that cannot hold the word,
        // and decide each name once (labels share their parents and categories).
        let stem = stem(&wanted.word);
        let holds =
            |name: &str| may_hold(name, stem) && words(name).iter().any(|w| fold(w) == wanted.word);
        let mut decided: Vec<(&str, bool)> = Vec::new();
        let mut best: Option<MatchedWord> = None;
        let offer = |best: &mut Option<MatchedWord>, source, name: &str, weight: f32| {
            if best.as_ref().is_none_or(|b| weight > b.weight) {
                *best = Some(MatchedWord {
                    word: wanted.word.clone(),
                    source,
                    name: name.to_owned(),
                    weight,
                });
            }
        };
        for label in &labels {
            let names = std::iter::once(&label.name)
                .chain(&label.parents)
                .chain(&label.categories);
            for name in names {
                let held = match decided.iter().find(|(seen, _)| *seen == name.as_str()) {
                    Some((_, held)) => *held,
                    None => {
                        let held = holds(name);
                        decided.push((name, held));
                        held
                    }
                };
                if held {
                    offer(&mut best, WordSource::Label, name, label.confidence / 100.0);
                }
            }
        }
        if let Some((theme, members)) = &wanted.theme {
            let best_member = labels
                .iter()
                .filter(|label| {
                    is_named(label, |own| {
                        members.iter().any(|m| m.eq_ignore_ascii_case(own))
                    })
                })
                .map(|label| label.confidence)
                .max_by(f32::total_cmp);
            if let Some(confidence) = best_member {
                offer(&mut best, WordSource::Theme, theme, confidence / 100.0);
            }
        }
        if best.as_ref().is_none_or(|b| b.weight < TEXT_WEIGHT) && holds(text) {
            offer(&mut best, WordSource::Text, &wanted.word, TEXT_WEIGHT);
        }
        matched.extend(best);
        if first_only && !matched.is_empty() {
            break;
        }
    }
    matched
}

/// A folded word less its last letter: it begins every word that folds to it (`puppy`:
/// `pupp`, in `Puppies`), so a text without it cannot hold the word.
pub fn stem(folded: &str) -> &str {
    match folded.char_indices().last() {
        Some((last, _)) if last > 0 => &folded[..last],
        _ => folded,
    }
}

/// Whether `text` may hold a word beginning with `stem`: false only when both are ASCII and
/// `stem` is nowhere in `text`, whatever the case.
fn may_hold(text: &str, stem: &str) -> bool {
    if stem.is_empty() || !stem.is_ascii() || !text.is_ascii() {
        return true;
    }
    text.as_bytes()
        .windows(stem.len())
        .any(|window| window.eq_ignore_ascii_case(stem.as_bytes()))
}

/// Orders the hits of a `query` search: most of the query's words met first, then the
/// greatest total weight, then newest first.
pub fn rank(hits: &mut [RecordHit]) {
    let total = |hit: &RecordHit| hit.matched_words.iter().map(|w| w.weight).sum::<f32>();
    hits.sort_by(|a, b| {
        b.matched_words
            .len()
            .cmp(&a.matched_words.len())
            .then_with(|| total(b).total_cmp(&total(a)))
            .then_with(|| newest_first(&a.record, &b.record))
    });
}

/// The same search without paging, for a caller that ranks every match itself.
pub fn unpaged(query: &SearchQuery) -> SearchQuery {
    SearchQuery {
        limit: None,
        cursor: None,
        max_bytes: None,
        ..query.clone()
    }
}

#[cfg(all(test, feature = "test-support"))]
mod tests {
    use super::*;
    use crate::contracts::{Label, RecordStatus};
    use crate::fakes::label;
    use crate::store_suite::suite_record;

    fn record(key: &str, seconds: i64, labels: Vec<Label>, text: &str) -> ImageRecord {
        let status = RecordStatus::Analyzed;
        suite_record(key, seconds, seconds as u64, status, true, labels, text)
    }

    fn words_query(text: &str) -> SearchQuery {
        SearchQuery {
            words: query_words(text, &Themes::shipped()),
            min_confidence: 25.0,
            safe_only: true,
            ..SearchQuery::default()
        }
    }

    /// The hits of `query` among `records`, ranked: their keys.
    fn ranked(records: &[ImageRecord], query: &SearchQuery) -> Vec<String> {
        let mut hits: Vec<RecordHit> = records
            .iter()
            .filter(|r| matches(r, query))
            .map(|r| RecordHit::new(r.clone(), query))
            .collect();
        rank(&mut hits);
        hits.into_iter().map(|h| h.record.key).collect()
    }

    #[test]
    fn words_fold_plurals_and_drop_stop_words() {
        for (word, folded) in [
            ("Beaches", "beach"),
            ("puppies", "puppy"),
            ("dogs", "dog"),
            ("boxes", "box"),
            ("glass", "glass"),
            ("bus", "bus"),
            ("cactus", "cactus"),
            ("waves", "wave"),
        ] {
            assert_eq!(fold(word), folded, "{word}");
        }
        let themes = Themes::shipped();
        let parsed = query_words("A photo of the dogs and a Dog on THE beaches", &themes);
        let plain: Vec<&str> = parsed.iter().map(|w| w.word.as_str()).collect();
        assert_eq!(plain, ["dog", "beach"], "stop-words and repeats dropped");
        assert!(query_words("the of a photo", &themes).is_empty());
        let animals = query_words("animals", &themes);
        assert_eq!(
            animals[0].theme.as_ref().map(|(name, _)| name.as_str()),
            Some("animals"),
            "a word naming a theme carries its labels"
        );
    }

    #[test]
    fn a_query_ranks_by_words_met_then_weight_then_newest() {
        let records = [
            record(
                "dog and beach.jpg",
                1,
                vec![
                    label("Golden Retriever", 90.0, &["Dog", "Animal"]),
                    label("Beach", 60.0, &[]),
                ],
                "",
            ),
            record(
                "strong beach weak dog.jpg",
                2,
                vec![label("Dog", 40.0, &[]), label("Beach", 95.0, &[])],
                "",
            ),
            record("dog only.jpg", 3, vec![label("Dog", 99.0, &[])], ""),
            record("beach sign.jpg", 4, Vec::new(), "BEACHES closed"),
            record("cat.jpg", 5, vec![label("Cat", 99.0, &[])], ""),
            record("noise.jpg", 6, vec![label("Dog", 10.0, &[])], ""),
            record("dog sign.jpg", 7, Vec::new(), "no dogs"),
        ];
        let query = words_query("a dog on the beach");
        assert_eq!(
            ranked(&records, &query),
            [
                "dog and beach.jpg",
                "strong beach weak dog.jpg",
                "dog only.jpg",
                "dog sign.jpg",
                "beach sign.jpg",
            ],
            "two words before one; 0.9 + 0.6 before 0.4 + 0.95; a label before text; \
             equal text matches newest first; a cat or a 10 % dog is no match"
        );
        let hit = RecordHit::new(records[0].clone(), &query);
        let why: Vec<(&str, WordSource, &str, f32)> = hit
            .matched_words
            .iter()
            .map(|w| (w.word.as_str(), w.source, w.name.as_str(), w.weight))
            .collect();
        assert_eq!(
            why,
            [
                ("dog", WordSource::Label, "Dog", 0.9),
                ("beach", WordSource::Label, "Beach", 0.6)
            ]
        );
        let sign = RecordHit::new(records[3].clone(), &query);
        assert_eq!(sign.matched_words[0].source, WordSource::Text);
        assert_eq!(sign.matched_words[0].weight, TEXT_WEIGHT);

        assert!(
            ranked(&records, &words_query("giraffe")).is_empty(),
            "no match, no result"
        );
        assert_eq!(
            ranked(&records, &words_query("the photos of a cat")),
            ["cat.jpg"],
            "stop-words are not matched against anything"
        );
    }

    #[test]
    fn each_word_counts_its_best_evidence_in_any_script() {
        let records = [
            record("weak dog sign.jpg", 1, vec![label("Dog", 30.0, &[])], "DOG"),
            record("dessert.jpg", 2, vec![label("Crème Brûlée", 80.0, &[])], ""),
            record("puppies.jpg", 3, vec![label("Puppies", 60.0, &[])], ""),
        ];
        let best = |query: &str, at: usize| {
            let hit = RecordHit::new(records[at].clone(), &words_query(query));
            let first = hit.matched_words.first().cloned();
            first.map(|w| (w.source, w.name, w.weight))
        };
        assert_eq!(
            best("dog", 0),
            Some((WordSource::Text, "dog".to_owned(), TEXT_WEIGHT)),
            "the text's 0.5 beats a 30 % label"
        );
        assert_eq!(
            best("BRÛLÉE", 1),
            Some((WordSource::Label, "Crème Brûlée".to_owned(), 0.8))
        );
        assert_eq!(
            best("puppy", 2),
            Some((WordSource::Label, "Puppies".to_owned(), 0.6))
        );
        assert_eq!(stem("puppy"), "pupp");
        assert_eq!(stem("é"), "é");
    }

    #[test]
    fn a_word_naming_a_theme_meets_the_themes_labels() {
        let records = [
            record("tabby.jpg", 1, vec![label("Tabby", 80.0, &["Cat"])], ""),
            record("beach.jpg", 2, vec![label("Beach", 70.0, &[])], ""),
        ];
        let query = words_query("animals");
        assert_eq!(ranked(&records, &query), ["tabby.jpg"]);
        let hit = RecordHit::new(records[0].clone(), &query);
        assert_eq!(hit.matched_words[0].source, WordSource::Theme);
        assert_eq!(hit.matched_words[0].name, "animals");
        assert_eq!(hit.matched_words[0].weight, 0.8);
        let both = words_query("animals");
        let filtered = SearchQuery {
            not_labels: vec!["Cat".into()],
            ..both
        };
        assert!(
            ranked(&records, &filtered).is_empty(),
            "label filters still apply"
        );
    }
}
