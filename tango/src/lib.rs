pub mod cdr;
