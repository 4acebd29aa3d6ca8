//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/*`) through the same functions the
//! cargo-fuzz targets call, so every input the fuzzers kept (crash regressions included) is an
//! ordinary test, without nightly. Also checks that the seeds made from the golden vectors
//! decode.

use std::path::{Path, PathBuf};

use proto_tests::fuzzing::{Target, seeds};
use proto_tests::vectors;

fn corpus_dir(target: Target) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target.name())
}

#[test]
fn every_committed_corpus_input_replays_without_a_broken_promise() {
    for target in Target::ALL {
        let dir = corpus_dir(target);
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "no corpus for {}", target.name());
        let mut decoded = 0;
        for input in &inputs {
            let data = std::fs::read(input).unwrap();
            // A panic here names the file through the test's output.
            eprintln!("replaying {}", input.display());
            if target.run(&data) {
                decoded += 1;
            }
        }
        assert!(
            decoded > 0,
            "no input of {} decodes: the corpus lost its seeds",
            target.name()
        );
    }
}

#[test]
fn seeds_from_golden_vectors_decode_in_every_target() {
    for path in vectors::positive_files() {
        let frames = vectors::load(&path).unwrap();
        let seeds = seeds(&frames, 8192);
        for target in Target::ALL {
            assert!(
                seeds.iter().any(|(t, _)| *t == target),
                "{}: no seed for {}",
                path.display(),
                target.name()
            );
        }
        for (target, input) in seeds {
            assert!(
                target.run(&input),
                "{}: a {} seed does not decode",
                path.display(),
                target.name()
            );
        }
    }
}
