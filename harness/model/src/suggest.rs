//! "Did you mean" for unknown names: the nearest valid name by edit distance.

/// The candidate closest to `name`, if it is close enough to be a likely typo.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&lower, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// A help line for an unknown `name`: the nearest candidate if there is one, else the full list.
pub fn help<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<String> {
    if let Some(best) = nearest(name, candidates.clone()) {
        return Some(format!("did you mean `{best}`?"));
    }
    let all: Vec<&str> = candidates.into_iter().collect();
    match all.len() {
        0 => None,
        _ => Some(format!("expected one of: {}", all.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            nearest("door_swich", ["door_switch", "alarm_led"]),
            Some("door_switch")
        );
        assert_eq!(nearest("xyz", ["door_switch", "alarm_led"]), None);
        assert_eq!(
            help("xyz", ["a_long_name", "another"]).as_deref(),
            Some("expected one of: a_long_name, another")
        );
    }
}
