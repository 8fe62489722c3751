//! Training on CPU: LoRA adapters over a differentiable forward of the engine's models
//! (weights dequantized and frozen), SFT and logit distillation objectives, AdamW with warmup
//! and cosine decay, and two teacher → student recipes: `heal` distills a model into a
//! compressed variant of itself, `distill` a larger model into a smaller one of the same
//! family; both merge the adapters and write the student again as GGUF with a manifest.

pub mod data;
mod error;
pub mod forward;
pub mod lora;
pub mod merge;
pub mod objective;
pub mod optim;
pub mod peft;
mod pipeline;
pub mod recipe;
pub mod teacher;
pub mod trainer;

pub use error::{Error, Result};
pub use forward::{Base, Lora};
pub use lora::{Adapters, LoraConfig, Target};
pub use pipeline::{distill, heal, sft, DocsOptions, HealManifest, HealOptions};
pub use recipe::HealRecipe;
