//! `moat graph` (in progress).
