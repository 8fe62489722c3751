pub mod eval;
pub mod export;
pub mod generate;
pub mod models;
pub mod report;
pub mod runs;
