//! Chat templates (Jinja, as shipped in GGUF metadata or tokenizer_config.json), rendered with
//! minijinja plus Python string methods (`.strip()`, `.startswith()`, ...) that templates use.

use crate::api::ChatMessage;
use crate::{Error, Result};
use minijinja::{context, Environment, ErrorKind};

pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

fn raise_exception(msg: String) -> std::result::Result<String, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
}

impl ChatTemplate {
    pub fn new(source: &str, bos: &str, eos: &str) -> Result<Self> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned("chat", source.to_string())
            .map_err(|e| Error::Template(format!("cannot parse: {e}")))?;
        Ok(Self {
            env,
            bos: bos.to_string(),
            eos: eos.to_string(),
        })
    }

    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let tmpl = self
            .env
            .get_template("chat")
            .map_err(|e| Error::Template(e.to_string()))?;
        tmpl.render(context! {
            messages => messages_value(messages),
            add_generation_prompt => add_generation_prompt,
            bos_token => self.bos.as_str(),
            eos_token => self.eos.as_str(),
        })
        .map_err(|e| Error::Template(format!("cannot render: {e}")))
    }
}

fn messages_value(messages: &[ChatMessage]) -> minijinja::Value {
    let v: Vec<minijinja::Value> = messages
        .iter()
        .map(|m| {
            minijinja::Value::from_pairs([
                ("role", m.role.as_str()),
                ("content", m.content.as_str()),
            ])
        })
        .collect();
    minijinja::Value::from(v)
}
