pub mod compress;
pub mod eval;
pub mod export;
pub mod generate;
pub mod measure;
pub mod models;
pub mod report;
pub mod runs;
