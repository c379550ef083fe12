//! # ryre-ffi: the C ABI of ryre
//!
//! A small, plain-C API over the public [`ryre`] API, built as a `cdylib` (`libryre_ffi.so`) and a
//! `staticlib` (`libryre_ffi.a`). The header `include/ryre.h` is generated from this file by
//! cbindgen (the `header` test fails when the committed header is stale); it states the error,
//! ownership and threading rules. The C#, Java and Ruby bindings in `bindings/` sit on this ABI.
//!
//! Every exported function catches panics: a panic never unwinds into C, the call fails with
//! [`ryre_error_t::RYRE_ERR_PANIC`] instead.
#![warn(missing_docs)]
#![allow(non_camel_case_types)]
// Every exported function checks its pointers for NULL and documents what it expects of them;
// marking them `unsafe` would not change what a C caller can do.
#![allow(clippy::missing_safety_doc, clippy::not_unsafe_ptr_arg_deref)]

mod event;
mod node;
mod util;

pub use event::*;
pub use node::*;
pub use util::*;
