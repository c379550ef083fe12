//! ryre
