//! Writes the handcrafted vectors (`vectors/handcrafted.jsonl`) and the negative vectors
//! (`vectors/negative/negative.jsonl`) from `proto_tests::handcrafted`.
//!
//! ```text
//! cargo run -p proto-tests --example handcraft [VECTORS_DIR]
//! ```

use std::path::PathBuf;

use proto_tests::handcrafted::{file_contents, handcrafted_lines, negative_lines};

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(proto_tests::vectors::vectors_dir);
    std::fs::create_dir_all(dir.join("negative"))?;
    std::fs::write(
        dir.join("handcrafted.jsonl"),
        file_contents(&handcrafted_lines()),
    )?;
    std::fs::write(
        dir.join("negative/negative.jsonl"),
        file_contents(&negative_lines()),
    )?;
    eprintln!("handcraft: wrote {}", dir.display());
    Ok(())
}
