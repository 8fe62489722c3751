//! Training on CPU: LoRA adapters over a differentiable forward of the engine's models
//! (weights dequantized and frozen), SFT and logit distillation objectives, AdamW with warmup
//! and cosine decay, and the `heal` recipe that distills a model into a compressed variant of
//! itself, merges the adapters and writes the variant again as GGUF with a manifest.

pub mod data;
mod error;
pub mod forward;
mod heal;
pub mod lora;
pub mod merge;
pub mod objective;
pub mod optim;
pub mod peft;
pub mod recipe;
pub mod teacher;
pub mod trainer;

pub use error::{Error, Result};
pub use forward::{Base, Lora};
pub use heal::{heal, HealManifest, HealOptions};
pub use lora::{Adapters, LoraConfig, Target};
pub use recipe::HealRecipe;
