//! cargo-fuzz target `db_mysql_select`; the body is src/db_mysql_select.rs (also replayed by the seed tests).
#![no_main]

#[path = "../src/db_mysql_select.rs"]
mod db_mysql_select;

libfuzzer_sys::fuzz_target!(|data: &[u8]| db_mysql_select::run(data));
