pub mod generate;
pub mod models;
