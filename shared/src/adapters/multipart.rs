//! `multipart/form-data` (audio transcriptions): the client's form read once, then written out
//! again for each upstream with `model` replaced.

use std::convert::Infallible;

use bytes::{BufMut, Bytes, BytesMut};

/// One form field: text or a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Bytes,
}

/// A parsed form, fields in the client's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form {
    pub parts: Vec<Part>,
}

impl Form {
    /// Reads the form in `body`, whose `Content-Type` is `content_type`.
    pub async fn parse(content_type: &str, body: Bytes) -> Result<Self, String> {
        let boundary = multer::parse_boundary(content_type)
            .map_err(|_| "the request must be multipart/form-data with a boundary".to_owned())?;
        let stream = futures_util::stream::once(async move { Ok::<Bytes, Infallible>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let mut parts = Vec::new();
        while let Some(field) = multipart.next_field().await.map_err(|e| format!("the form is malformed: {e}"))? {
            let name = field.name().unwrap_or_default().to_owned();
            let filename = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(ToString::to_string);
            let data = field.bytes().await.map_err(|e| format!("the form is malformed: {e}"))?;
            parts.push(Part { name, filename, content_type, data });
        }
        Ok(Self { parts })
    }

    /// The first text field called `name`.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.parts
            .iter()
            .find(|p| p.name == name && p.filename.is_none())
            .and_then(|p| std::str::from_utf8(&p.data).ok())
    }

    pub fn has_file(&self, name: &str) -> bool {
        self.parts.iter().any(|p| p.name == name && p.filename.is_some())
    }

    /// The form as the upstream gets it: every field as sent, but `model` set to `model`.
    /// Every field called `model` is written as that text, a file field too: the upstream must
    /// see only the model the gateway routed to, whatever else the client dressed up as one.
    pub fn encode(&self, model: &str, boundary: &str) -> Bytes {
        let size: usize = self.parts.iter().map(|p| p.data.len() + 160).sum();
        let mut out = BytesMut::with_capacity(size + 64);
        for part in &self.parts {
            out.put_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"", quoted(&part.name)).as_bytes(),
            );
            if part.name == "model" {
                out.put_slice(b"\r\n\r\n");
                out.put_slice(model.as_bytes());
                out.put_slice(b"\r\n");
                continue;
            }
            if let Some(filename) = &part.filename {
                out.put_slice(format!("; filename=\"{}\"", quoted(filename)).as_bytes());
            }
            out.put_slice(b"\r\n");
            if let Some(content_type) = &part.content_type {
                out.put_slice(format!("Content-Type: {}\r\n", content_type.replace(['\r', '\n'], "")).as_bytes());
            }
            out.put_slice(b"\r\n");
            out.put_slice(&part.data);
            out.put_slice(b"\r\n");
        }
        out.put_slice(format!("--{boundary}--\r\n").as_bytes());
        out.freeze()
    }
}

/// A name or filename inside a quoted header parameter, escaped as browsers do, and a backslash
/// too: parsers that honour RFC 2045's quoted-pair would read `\"` as a quote inside the value.
fn quoted(value: &str) -> String {
    value.replace('"', "%22").replace('\\', "%5C").replace('\r', "%0D").replace('\n', "%0A")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        futures_executor::block_on(f)
    }

    #[test]
    fn a_form_round_trips_with_model_replaced() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\0\x01binary\r\n--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--XyZ\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nde\r\n--XyZ--\r\n";
        let form = block_on(Form::parse("multipart/form-data; boundary=XyZ", Bytes::from(body))).unwrap();
        assert_eq!(form.text("model"), Some("whisper"));
        assert_eq!(form.text("language"), Some("de"));
        assert!(form.has_file("file"));
        assert_eq!(form.parts[0].data.as_ref(), b"RIFF\0\x01binary");
        let encoded = form.encode("whisper-1", "b0undary");
        let again = block_on(Form::parse("multipart/form-data; boundary=b0undary", encoded)).unwrap();
        assert_eq!(again.text("model"), Some("whisper-1"));
        assert_eq!(again.parts[0].data, form.parts[0].data);
        assert_eq!(again.parts[0].content_type.as_deref(), Some("audio/wav"));
        assert_eq!(again.parts.len(), 3);
    }

    #[test]
    fn every_field_called_model_goes_out_as_the_routed_model() {
        // A file field named `model` next to the text one: the upstream must not get to read it.
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ncheap\r\n--XyZ\r\nContent-Disposition: form-data; name=\"model\"; filename=\"m.txt\"\r\nContent-Type: text/plain\r\n\r\nexpensive\r\n--XyZ--\r\n";
        let form = block_on(Form::parse("multipart/form-data; boundary=XyZ", Bytes::from(body))).unwrap();
        let encoded = form.encode("upstream-model", "b");
        let again = block_on(Form::parse("multipart/form-data; boundary=b", encoded.clone())).unwrap();
        assert!(again.parts.iter().all(|p| p.name == "model" && p.filename.is_none() && p.data == "upstream-model"));
        assert!(!String::from_utf8_lossy(&encoded).contains("expensive"));
    }

    #[test]
    fn names_are_written_so_that_no_parser_reads_them_differently() {
        let form = Form {
            parts: vec![Part {
                name: "a\\".into(),
                filename: Some("x\"y\r\n.wav".into()),
                content_type: None,
                data: Bytes::from_static(b"RIFF"),
            }],
        };
        let encoded = String::from_utf8(form.encode("m", "b").to_vec()).unwrap();
        assert!(encoded.contains("name=\"a%5C\"; filename=\"x%22y%0D%0A.wav\""), "{encoded}");
    }

    #[test]
    fn a_broken_form_is_an_error() {
        assert!(block_on(Form::parse("application/json", Bytes::from("{}"))).is_err());
        let cut = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\nRIFF";
        assert!(block_on(Form::parse("multipart/form-data; boundary=XyZ", Bytes::from(cut))).is_err());
    }
}
