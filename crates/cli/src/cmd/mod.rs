pub mod eval;
pub mod generate;
pub mod measure;
pub mod models;
