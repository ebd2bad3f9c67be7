//! Turns `sbe/spot-3.schema` (the project's notation of Binance's SBE schema) into layout
//! constants: template ids, field offsets, block lengths per version, enum codes. The codecs in
//! `src/sbe` are written against these names, so a schema change that moves or renames a field
//! changes the constants or fails the build.

use std::fmt::Write as _;
use std::path::PathBuf;

const SCHEMA: &str = "sbe/spot-3.schema";

fn main() {
    println!("cargo:rerun-if-changed={SCHEMA}");
    let text = std::fs::read_to_string(SCHEMA).unwrap_or_else(|e| panic!("reading {SCHEMA}: {e}"));
    let code = generate(&text).unwrap_or_else(|e| panic!("{SCHEMA}: {e}"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("sbe_layout.rs"), code).expect("writing the generated layout");
}

struct Scope {
    /// Rust module name.
    module: String,
    /// (since, size) of each fixed field, in order.
    block: Vec<(u16, u16)>,
    code: String,
}

fn generate(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut types: Vec<(String, String)> = Vec::new();
    let mut enums: Vec<String> = Vec::new();
    let mut stack: Vec<Scope> = Vec::new();
    for (number, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = |message: &str| format!("line {}: {message}: {raw}", number + 1);
        let attr = |name: &str| {
            words
                .iter()
                .find_map(|w| w.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        };
        let since: u16 = attr("since")
            .map_or(Ok(0), str::parse)
            .map_err(|_| at("bad since"))?;
        match words[0] {
            "schema" => {
                let _ = writeln!(out, "pub const SCHEMA_ID: u16 = {};", words[1]);
                let _ = writeln!(out, "pub const SCHEMA_VERSION: u16 = {};", words[2]);
            }
            "type" => types.push((words[1].to_owned(), words[2].to_owned())),
            "enum" => {
                enums.push(words[1].to_owned());
                let _ = write!(
                    out,
                    "/// `{}`: JSON spelling and code of each value.\npub const {}: &[(&str, u8)] = &[",
                    words[1],
                    shout(words[1])
                );
                for value in &words[2..] {
                    let (name, code) = value.split_once('=').ok_or_else(|| at("enum value"))?;
                    let _ = write!(out, "(\"{name}\", {code}), ");
                }
                out.push_str("];\n");
            }
            "message" => {
                let mut scope = Scope {
                    module: snake(words[1]),
                    block: Vec::new(),
                    code: String::new(),
                };
                let _ = writeln!(
                    scope.code,
                    "pub const TEMPLATE_ID: u16 = {};\npub const SINCE_VERSION: u16 = {since};",
                    words[2]
                );
                stack.push(scope);
            }
            "group" => {
                let mut scope = Scope {
                    module: snake(words[2]),
                    block: Vec::new(),
                    code: String::new(),
                };
                let dimension = match words[3] {
                    "groupSizeEncoding" => "Dimension::U32",
                    "groupSize16Encoding" => "Dimension::U16",
                    other => return Err(at(&format!("unknown group dimension {other}"))),
                };
                let _ = writeln!(scope.code, "pub const DIMENSION: Dimension = {dimension};");
                stack.push(scope);
            }
            "end" => {
                let scope = stack
                    .pop()
                    .ok_or_else(|| at("end without an open message"))?;
                let mut module = format!(
                    "pub mod {} {{\n    #[allow(unused_imports)]\n    use super::*;\n",
                    scope.module
                );
                let _ = writeln!(
                    module,
                    "    pub const BLOCK: &[(u16, u16)] = &{:?};",
                    scope.block
                );
                for line in scope.code.lines() {
                    let _ = writeln!(module, "    {line}");
                }
                module.push_str("}\n");
                match stack.last_mut() {
                    Some(parent) => parent.code.push_str(&module),
                    None => out.push_str(&module),
                }
            }
            "field" => {
                let scope = stack
                    .last_mut()
                    .ok_or_else(|| at("field outside a message"))?;
                let name = words[2];
                let mut ty = words[3];
                if let Some((_, primitive)) = types.iter().find(|(named, _)| named == ty) {
                    ty = primitive;
                }
                let (rust, size, values) = match ty {
                    "int8" => ("i8", 1, None),
                    "uint8" => ("u8", 1, None),
                    "int16" => ("i16", 2, None),
                    "uint16" => ("u16", 2, None),
                    "int32" => ("i32", 4, None),
                    "uint32" => ("u32", 4, None),
                    "int64" => ("i64", 8, None),
                    "uint64" => ("u64", 8, None),
                    named if enums.iter().any(|e| e == named) => ("u8", 1, Some(shout(named))),
                    other => return Err(at(&format!("unknown type {other}"))),
                };
                let offset: u16 = scope.block.iter().map(|(_, size)| size).sum();
                scope.block.push((since, size));
                let _ = writeln!(
                    scope.code,
                    "/// Field {} `{name}`{}.\npub const {}: Field<{rust}> = Field::new({offset}, {since});",
                    words[1],
                    attr("json")
                        .map(|key| format!(" (JSON `{key}`)"))
                        .unwrap_or_default(),
                    shout(name)
                );
                if let Some(values) = values {
                    let _ = writeln!(
                        scope.code,
                        "pub const {}_VALUES: &[(&str, u8)] = crate::sbe::layout::{values};",
                        shout(name)
                    );
                }
            }
            "data" => {
                let scope = stack
                    .last_mut()
                    .ok_or_else(|| at("data outside a message"))?;
                let prefix = match words[3] {
                    "varString8" | "optionalVarString8" => "VarData::U8",
                    "varString" | "optionalVarString" => "VarData::U16",
                    "messageData" | "optionalMessageData" => "VarData::U32",
                    other => return Err(at(&format!("unknown var data {other}"))),
                };
                let _ = writeln!(
                    scope.code,
                    "/// Var data {} `{}` ({}).\npub const {}: VarData = {prefix};",
                    words[1],
                    words[2],
                    words[3],
                    shout(words[2])
                );
            }
            other => return Err(at(&format!("unknown statement {other}"))),
        }
    }
    if !stack.is_empty() {
        return Err("a message or group is not closed with `end`".into());
    }
    Ok(out)
}

/// `ExecutionReportEvent` → `execution_report_event`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (index, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && index > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `freeQtyDelta` → `FREE_QTY_DELTA`.
fn shout(name: &str) -> String {
    snake(name).to_ascii_uppercase()
}
