//! Text comparison shared by the tests that read text: the same normalisation and the same
//! character error rate everywhere, so figures from different tests can be compared.

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Lines joined by single spaces, whitespace collapsed; full-width punctuation (the recogniser's
/// Chinese character set has both) folded to ASCII.
pub fn normalise(lines: &[String]) -> String {
    let joined = lines
        .join(" ")
        .replace('，', ",")
        .replace('：', ":")
        .replace('；', ";");
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}
