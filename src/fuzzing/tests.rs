//! Replays every committed fuzz input through the check its target runs: each file of
//! `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/`.

use std::path::{Path, PathBuf};

use super::TARGETS;

/// The files of `dir`, sorted; panics when the directory is missing or empty, so a corpus
/// that went astray fails the test instead of passing with nothing checked.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no input", dir.display());
    files
}

fn replay(kind: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind);
    for (target, check) in TARGETS {
        for file in inputs(&root.join(target)) {
            let data = std::fs::read(&file).expect("readable fuzz input");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(outcome.is_ok(), "{target}: {} fails", file.display());
        }
    }
}

#[test]
fn every_corpus_input_passes_its_check() {
    replay("corpus");
}

#[test]
fn every_regression_input_passes_its_check() {
    replay("regressions");
}

#[test]
fn every_target_has_a_fuzz_target_file() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets");
    for (target, _) in TARGETS {
        assert!(dir.join(format!("{target}.rs")).is_file(), "{target}");
    }
}
