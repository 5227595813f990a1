//! nominations tests.
