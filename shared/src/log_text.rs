//! Text from clients and upstreams made safe for a log line: a model name or an error message
//! with a line break in it must not start a forged log line.

use std::fmt;

/// Displays its text with control characters escaped (`\n`, `\r`, `\t`, `\u{…}`).
pub struct LogText<'a>(pub &'a str);

impl fmt::Display for LogText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.0;
        if !text.chars().any(char::is_control) {
            return f.write_str(text);
        }
        for c in text.chars() {
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() => write!(f, "\\u{{{:x}}}", c as u32)?,
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::LogText;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(LogText("gpt-4o").to_string(), "gpt-4o");
        assert_eq!(LogText("m\r\nINFO forged\tx\u{1b}[31m").to_string(), "m\\r\\nINFO forged\\tx\\u{1b}[31m");
    }
}
