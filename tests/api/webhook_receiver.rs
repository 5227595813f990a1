//! Placeholder until the reference receiver test lands.
