//! Rebuilds the crate when a migration is added, changed or removed: `embed_migrations!`
//! (src/db/mod.rs) reads the directory at compile time, and cargo does not watch it otherwise
//! (a new migration folder would be left out of the binary and of the tests' template).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
