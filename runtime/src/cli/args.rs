//! A small runc-style argument reader on top of lexopt: `--flag value`,
//! `--flag=value`, `-f value`, positionals anywhere, `--` ends options.

use berth_runtime::Error;
use lexopt::{Arg, Parser, ValueExt};

pub struct Args {
    p: Parser,
}

pub enum Global {
    Flag(String),
    Command(String),
}

pub enum Item {
    Flag(String),
    Positional(String),
}

fn usage(e: lexopt::Error) -> Error {
    Error::Usage(e.to_string())
}

impl Args {
    pub fn from_env() -> Args {
        Args { p: Parser::from_env() }
    }

    pub fn next_global(&mut self) -> Result<Option<Global>, Error> {
        Ok(match self.p.next().map_err(usage)? {
            None => None,
            Some(Arg::Long(f)) => Some(Global::Flag(f.to_string())),
            Some(Arg::Short(c)) => Some(Global::Flag(c.to_string())),
            Some(Arg::Value(v)) => Some(Global::Command(v.string().map_err(usage)?)),
        })
    }

    pub fn next(&mut self) -> Result<Option<Item>, Error> {
        Ok(match self.p.next().map_err(usage)? {
            None => None,
            Some(Arg::Long(f)) => Some(Item::Flag(f.to_string())),
            Some(Arg::Short(c)) => Some(Item::Flag(c.to_string())),
            Some(Arg::Value(v)) => Some(Item::Positional(v.string().map_err(usage)?)),
        })
    }

    pub fn value(&mut self, flag: &str) -> Result<String, Error> {
        self.p.value().map_err(|e| Error::Usage(format!("--{flag}: {e}")))?.string().map_err(usage)
    }

    /// Whatever remains, unparsed (for `exec ID CMD ARGS...` where ARGS may look like flags).
    pub fn rest(&mut self) -> Result<Vec<String>, Error> {
        let mut v = Vec::new();
        for a in self.p.raw_args().map_err(usage)? {
            v.push(a.string().map_err(usage)?);
        }
        Ok(v)
    }

    /// The value of an optional-value boolean flag given as `--flag=false`.
    pub fn optional_bool(&mut self) -> Result<bool, Error> {
        match self.p.optional_value() {
            None => Ok(true),
            Some(v) => match v.string().map_err(usage)?.as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                o => Err(Error::Usage(format!("expected true or false, got {o:?}"))),
            },
        }
    }
}

pub fn unknown(cmd: &str, flag: &str) -> Error {
    Error::Usage(format!("{cmd}: unknown option --{flag}"))
}

pub fn one_id(cmd: &str, pos: &[String]) -> Result<String, Error> {
    match pos {
        [id] => Ok(id.clone()),
        [] => Err(Error::Usage(format!("{cmd}: a container id is required"))),
        _ => Err(Error::Usage(format!("{cmd}: expected exactly one container id, got {pos:?}"))),
    }
}
