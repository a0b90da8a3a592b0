//! The verdicts' reasons, in the words an operator reads on the line: what happened, and what to
//! do next.

/// `n` things, in words: `1 retest`, `2 retests`.
fn count(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A label whose pattern no profile of the route has.
pub fn not_tested_here(serial: &str, patterns: &[&str]) -> String {
    format!(
        "label `{serial}` is not one this station tests (labels here look like {})",
        patterns.join(" or ")
    )
}

/// A unit sent to repair and scanned again before a technician recorded the repair.
pub fn awaits_repair(serial: &str) -> String {
    format!(
        "send {serial} to repair: it failed too often; a technician must record the repair before it is tested again"
    )
}

/// A fixture at its wear limit.
pub fn worn(fixture: &str, count: u32, limit: u32) -> String {
    format!(
        "fixture {fixture} is worn out ({count} of {limit} insertions): a technician must record its maintenance"
    )
}

/// A failing measurement, against its limits.
pub fn outside_limits(name: &str, value: &str, limits: &str) -> String {
    format!("{name} is {value}, outside its limits {limits}")
}

/// A unit that failed and may be retested.
pub fn failed(scenario: &str, why: &str, retests_left: u32) -> String {
    format!(
        "{scenario}: {why}. {} left for this unit.",
        count(retests_left, "retest", "retests")
    )
}

/// A unit that failed beyond the retest limit.
pub fn send_to_repair(failures: u32, limit: u32, why: &str) -> String {
    format!(
        "SEND TO REPAIR: failed {}, and {} allowed. Last failure: {why}",
        count(failures, "time", "times"),
        count(limit, "retest is", "retests are")
    )
}

/// The rig failed, not the unit.
pub fn rig_problem(detail: &str) -> String {
    format!("rig problem: call the technician ({detail})")
}

/// A cycle stopped by a person.
pub fn aborted(serial: &str, slot: &str) -> String {
    format!("ABORTED: {serial} was torn down, powered off and recorded as aborted in {slot}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_plain_words() {
        let all = [
            not_tested_here("XX-1", &["FC1-\\d{6}", "FC2-\\d{6}"]),
            awaits_repair("FC2-000201"),
            worn("fx-fridge-gen1", 50000, 50000),
            failed(
                "smoke",
                &outside_limits("firmware_temp", "8.38 °C", "2 <= x <= 8 °C"),
                1,
            ),
            failed("smoke", "the unit did not boot", 2),
            send_to_repair(
                2,
                1,
                &outside_limits("alarm_blink", "0 Hz", "0.8 <= x <= 1.2 Hz"),
            ),
            rig_problem("smoke: /dev/ttyUSB0 is gone"),
            aborted("FC3-000301", "slot3"),
        ];
        insta::assert_snapshot!(all.join("\n"));
    }
}
