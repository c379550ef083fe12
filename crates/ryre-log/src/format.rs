//! How a record looks in a file or a terminal: one JSON object per line, or one text line.

use std::time::{Duration, UNIX_EPOCH};

use crate::proto::LogRecord;
use serde_json::{json, Map, Value};

/// The line format of a collector's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// One JSON object per line (`.jsonl`).
    #[default]
    Json,
    /// One human-readable line per record (`.log`).
    Text,
}

impl Format {
    /// The file extension of this format.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "jsonl",
            Format::Text => "log",
        }
    }

    /// The line for `rec`, without its newline.
    pub fn line(self, rec: &LogRecord) -> String {
        match self {
            Format::Json => json_line(rec),
            Format::Text => text_line(rec),
        }
    }
}

/// RFC 3339 time with nanoseconds, UTC.
pub fn rfc3339(time_ns: u64) -> String {
    humantime::format_rfc3339_nanos(UNIX_EPOCH + Duration::from_nanos(time_ns)).to_string()
}

/// The record as one JSON object: `seq`, `time` (RFC 3339), `ts` (ns), `level`, `node`, `name`,
/// `target`, `message`, `fields` (an object, in recorded order), `spans` (an array).
pub fn json_line(rec: &LogRecord) -> String {
    let mut fields = Map::new();
    for (k, v) in &rec.fields {
        fields.insert(k.clone(), Value::String(v.clone()));
    }
    json!({
        "seq": rec.seq,
        "time": rfc3339(rec.time),
        "ts": rec.time,
        "level": rec.level.as_str(),
        "node": rec.node.to_string(),
        "name": rec.name,
        "target": rec.target,
        "message": rec.message,
        "fields": fields,
        "spans": rec.spans,
    })
    .to_string()
}

/// The record as text: `TIME LEVEL name target{span:span}: message k=v ...`. Line breaks in the
/// message are escaped so that one record is one line.
pub fn text_line(rec: &LogRecord) -> String {
    let mut s = format!(
        "{} {:<5} {} {}",
        rfc3339(rec.time),
        rec.level,
        rec.name,
        rec.target
    );
    if !rec.spans.is_empty() {
        s.push('{');
        s.push_str(&rec.spans.join(":"));
        s.push('}');
    }
    s.push_str(": ");
    s.push_str(&escape(&rec.message));
    for (k, v) in &rec.fields {
        s.push(' ');
        s.push_str(k);
        s.push('=');
        s.push_str(&escape(v));
    }
    s
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Level;
    use ryre::PeerId;

    fn rec() -> LogRecord {
        LogRecord {
            seq: 3,
            time: 1_500_000_000_123_456_789,
            level: Level::Info,
            node: PeerId::from_bytes([1; 16]),
            name: "n1".into(),
            target: "app".into(),
            message: "two\nlines".into(),
            fields: vec![("k".into(), "v".into())],
            spans: vec!["outer".into(), "inner".into()],
        }
    }

    #[test]
    fn json_and_text_lines() {
        let j: Value = serde_json::from_str(&json_line(&rec())).expect("JSON");
        assert_eq!(j["seq"], 3);
        assert_eq!(j["time"], "2017-07-14T02:40:00.123456789Z");
        assert_eq!(j["level"], "INFO");
        assert_eq!(j["message"], "two\nlines");
        assert_eq!(j["fields"]["k"], "v");
        assert_eq!(j["spans"][1], "inner");
        let t = text_line(&rec());
        assert_eq!(
            t,
            "2017-07-14T02:40:00.123456789Z INFO  n1 app{outer:inner}: two\\nlines k=v"
        );
        assert!(!json_line(&rec()).contains('\n'));
    }
}
