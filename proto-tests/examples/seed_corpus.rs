//! Seeds the fuzz corpus (`fuzz/corpus/<target>/`) from the golden and negative vectors, one
//! file per input, named by a hash of its contents (so re-seeding adds nothing twice).
//!
//! ```text
//! cargo run -p proto-tests --example seed_corpus [CORPUS_DIR]
//! ```

use std::path::{Path, PathBuf};

use proto_tests::fuzzing::{Target, seeds};
use proto_tests::vectors;

/// FNV-1a, 64 bits: a stable file name for an input.
fn name(data: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("seed-{hash:016x}")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../fuzz/corpus")
                .to_path_buf()
        });
    let mut written = std::collections::BTreeMap::<&str, usize>::new();
    for path in vectors::positive_files()
        .into_iter()
        .chain(vectors::negative_files())
    {
        let frames = vectors::load(&path)?;
        for (target, input) in seeds(&frames, 8192) {
            let target_dir = dir.join(target.name());
            std::fs::create_dir_all(&target_dir)?;
            let file = target_dir.join(name(&input));
            if !file.exists() {
                std::fs::write(file, &input)?;
                *written.entry(target.name()).or_default() += 1;
            }
        }
    }
    for target in Target::ALL {
        eprintln!(
            "seed_corpus: {} new inputs for {}",
            written.get(target.name()).copied().unwrap_or(0),
            target.name()
        );
    }
    Ok(())
}
