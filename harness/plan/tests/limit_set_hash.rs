//! The limit set's hash is held by stores beside every run's records: the same limits must hash
//! to the same bytes whatever the code that computes it. These values were taken from the code
//! that hashed through `serde_json::Value`, before it hashed straight from the typed limits.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test fails loudly on purpose

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn shipped() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    ["device-profiles", "rigs", "fixtures", "examples"]
        .iter()
        .map(|d| root.join(d))
        .collect()
}

/// Today's hash of every shipped scenario on every generation it binds to (the same on every slot).
const PINNED: [(&str, &str); 15] = [
    (
        "burn-in fridge-ctl-gen1",
        "e4fe01c7e440204429ee6398355ff1fe02bc20655e4551603645e3022ddb6f50",
    ),
    (
        "burn-in fridge-ctl-gen2",
        "3d54e0e93c793268150b0f7d18a06bfc64cc3520029e939166235e42ca856507",
    ),
    (
        "burn-in fridge-ctl-gen3",
        "a9c561b30d6b9b72e28ea8f67c730cf18c987ebc989554c18a3c900297ec00ad",
    ),
    (
        "gateway-sensors fridge-ctl-gen2",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ),
    (
        "gateway-sensors fridge-gw-gen1",
        "758163dff3de830d7ec043cfdac2c6b3dec4d910292c26dc61770a318f154bd3",
    ),
    (
        "network-resilience fridge-ctl-gen2",
        "0f232845bd86001653592f7420cb4ff5571fa7633858868e098b92f223ef1a1c",
    ),
    (
        "network-resilience fridge-ctl-gen3",
        "0f232845bd86001653592f7420cb4ff5571fa7633858868e098b92f223ef1a1c",
    ),
    (
        "ota-update fridge-ctl-gen2",
        "2c73aa915fcca147d4b57bfb4ff15c8bfa3100278d89a4822dfac29d97f1c176",
    ),
    (
        "ota-update fridge-ctl-gen3",
        "2c73aa915fcca147d4b57bfb4ff15c8bfa3100278d89a4822dfac29d97f1c176",
    ),
    (
        "provisioning fridge-ctl-gen2",
        "1f97420e22a90d504daf279367814692b9a96723a7108c1a46e5cd084beb6e5d",
    ),
    (
        "provisioning fridge-ctl-gen3",
        "1f97420e22a90d504daf279367814692b9a96723a7108c1a46e5cd084beb6e5d",
    ),
    (
        "qemu-reflash qemu-fridge",
        "94a809290c995163d038f1ac95026b489fbf8e9c3eebcbc61f14512d66ecbbfe",
    ),
    (
        "smoke fridge-ctl-gen1",
        "19bfc8fa8e85bb95c234b3b59e95f3674b89bea246f75c0890970f65c0ecb5c4",
    ),
    (
        "smoke fridge-ctl-gen2",
        "dcb019bc1f0606dd769bd442f0fa9666b2a897517688377073ecad6d73c5b69a",
    ),
    (
        "smoke fridge-ctl-gen3",
        "2fa1760594ed90dff009b3905df6ff0d18486d0d4229131d36e5af6e4693db41",
    ),
];

#[test]
fn every_shipped_limit_set_hashes_as_it_always_has() {
    let (catalog, diags) = rigor_model::load_paths(&shipped());
    assert!(diags.is_empty(), "{diags}");
    let (_, plans, bind) = rigor_plan::matrix(&catalog, &BTreeMap::new());
    assert!(bind.is_empty(), "{bind}");
    let pinned: BTreeMap<&str, &str> = PINNED.into_iter().collect();
    let mut seen = BTreeMap::new();
    for plan in &plans {
        let key = format!("{} {}", plan.scenario.name, plan.profile);
        let want = pinned
            .get(key.as_str())
            .unwrap_or_else(|| panic!("no pinned hash for {key}"));
        assert_eq!(
            plan.limit_set_hash, *want,
            "{key} on {} {}",
            plan.rig, plan.slot
        );
        seen.insert(key, ());
    }
    assert_eq!(seen.len(), pinned.len(), "every pinned limit set was bound");
}
