//! Writes the seed corpora of the fuzz targets to `seeds/frame_decoder/` and
//! `seeds/hub_connection/` (relative to the fuzz crate), replacing what is there. Run
//! from `fuzz/` after a change to the protocol or to `docs/protocol.md`:
//!
//! ```sh
//! cargo run --example write_seeds
//! ```

use std::{fs, io, path::Path};

use pipehub_fuzz::seeds::{Seed, connection_seeds, decoder_seeds};

fn main() -> io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = fs::read_to_string(root.join("../docs/protocol.md"))?;
    write(&root.join("seeds/frame_decoder"), &decoder_seeds(&doc))?;
    write(&root.join("seeds/hub_connection"), &connection_seeds(&doc))?;
    Ok(())
}

fn write(dir: &Path, seeds: &[Seed]) -> io::Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    for seed in seeds {
        fs::write(dir.join(&seed.name), &seed.data)?;
    }
    println!("{}: {} seeds", dir.display(), seeds.len());
    Ok(())
}
