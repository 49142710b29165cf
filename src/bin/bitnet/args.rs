//! A small command-line parser: `--name VALUE`, `--name=VALUE`, boolean `--flag`,
//! positionals, and `--` to end options. Anything left unconsumed is an error, so a
//! mistyped option never passes silently.

use std::collections::VecDeque;
use std::str::FromStr;

pub struct Args {
    items: VecDeque<String>,
    /// Everything after a bare `--`: positionals only.
    rest: VecDeque<String>,
}

impl Args {
    pub fn new(items: impl IntoIterator<Item = String>) -> Args {
        let mut items: VecDeque<String> = items.into_iter().collect();
        let rest = match items.iter().position(|a| a == "--") {
            Some(i) => {
                let rest = items.split_off(i);
                rest.into_iter().skip(1).collect()
            }
            None => VecDeque::new(),
        };
        Args { items, rest }
    }

    /// Treats the short option `-s` as `--long` (before any value is read).
    pub fn alias(mut self, short: &str, long: &str) -> Args {
        let (short, long) = (format!("-{short}"), format!("--{long}"));
        for item in self.items.iter_mut() {
            if *item == short {
                item.clone_from(&long);
            }
        }
        self
    }

    /// True if `--name` was given (and removes it).
    pub fn flag(&mut self, name: &str) -> bool {
        let long = format!("--{name}");
        match self.items.iter().position(|a| *a == long) {
            Some(i) => {
                self.items.remove(i);
                true
            }
            None => false,
        }
    }

    /// The value of `--name VALUE` or `--name=VALUE`, if given.
    pub fn value(&mut self, name: &str) -> Result<Option<String>, String> {
        let long = format!("--{name}");
        let prefix = format!("--{name}=");
        if let Some(i) = self.items.iter().position(|a| a.starts_with(&prefix)) {
            let item = self.items.remove(i).expect("index from position");
            return Ok(Some(item[prefix.len()..].to_string()));
        }
        match self.items.iter().position(|a| *a == long) {
            Some(i) => {
                self.items.remove(i);
                match self.items.remove(i) {
                    Some(v) => Ok(Some(v)),
                    None => Err(format!("{long} needs a value")),
                }
            }
            None => Ok(None),
        }
    }

    /// A parsed value of `--name`, if given.
    pub fn parsed<T: FromStr>(&mut self, name: &str) -> Result<Option<T>, String> {
        match self.value(name)? {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| format!("--{name}: cannot parse '{v}'")),
        }
    }

    /// `--lm-head exact|int8` (default exact).
    pub fn lm_head(&mut self) -> Result<bitnet::LmHead, String> {
        match self.value("lm-head")? {
            None => Ok(bitnet::LmHead::Exact),
            Some(v) => bitnet::LmHead::from_name(&v)
                .ok_or_else(|| format!("--lm-head: expected exact or int8, got '{v}'")),
        }
    }

    /// The next positional argument (call after all options are taken).
    pub fn positional(&mut self) -> Result<Option<String>, String> {
        if let Some(i) = self
            .items
            .iter()
            .position(|a| !a.starts_with("--") || a == "-")
        {
            if let Some(opt) = self.items.iter().take(i).find(|a| a.starts_with("--")) {
                return Err(format!("unknown option {opt}"));
            }
            return Ok(self.items.remove(i));
        }
        if let Some(opt) = self.items.front() {
            return Err(format!("unknown option {opt}"));
        }
        Ok(self.rest.pop_front())
    }

    /// Errors if anything was not consumed.
    pub fn finish(self) -> Result<(), String> {
        if let Some(a) = self.items.front() {
            return Err(if a.starts_with("--") {
                format!("unknown option {a}")
            } else {
                format!("unexpected argument '{a}'")
            });
        }
        if let Some(a) = self.rest.front() {
            return Err(format!("unexpected argument '{a}'"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Args {
        Args::new(s.iter().map(|x| x.to_string()))
    }

    #[test]
    fn options_flags_and_positionals() {
        let mut a = args(&[
            "--model",
            "m.gguf",
            "--add-special",
            "text",
            "--pre=default",
        ]);
        assert_eq!(a.value("model").unwrap().as_deref(), Some("m.gguf"));
        assert_eq!(a.value("pre").unwrap().as_deref(), Some("default"));
        assert!(a.flag("add-special"));
        assert!(!a.flag("parse-special"));
        assert_eq!(a.positional().unwrap().as_deref(), Some("text"));
        a.finish().unwrap();
    }

    #[test]
    fn double_dash_ends_options_and_leftovers_are_errors() {
        let mut a = args(&["--", "--not-an-option"]);
        assert_eq!(a.positional().unwrap().as_deref(), Some("--not-an-option"));
        a.finish().unwrap();
        assert!(args(&["--bogus"]).finish().is_err());
        assert!(args(&["--model"]).value("model").is_err());
        assert!(args(&["--n", "x"]).parsed::<u32>("n").is_err());
    }
}
