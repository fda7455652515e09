//! The multipart reader (audio transcriptions): any body gives a form or an error, and a form
//! it read, written out again, reads back the same (with `model` set as the upstream gets it, and
//! quotes, backslashes and line breaks in names escaped as the gateway writes them).
//!
//! One exception is left to multer: it finds `name` and `filename` parameters by searching the
//! whole header, so a field name that itself contains `filename=` (legal in a quoted value, and
//! written quoted by the gateway as browsers write it) is read back with another filename. The
//! parts and their bytes must still match, and every `model` field must carry the routed model.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use uni_api_core::adapters::multipart::Form;

const BOUNDARY: &str = "fuzz-boundary";

fuzz_target!(|data: &[u8]| {
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    let Ok(form) = futures_executor::block_on(Form::parse(&content_type, Bytes::copy_from_slice(data))) else {
        return;
    };
    let encoded = form.encode("m", "again");
    let reread = futures_executor::block_on(Form::parse("multipart/form-data; boundary=again", encoded))
        .expect("a form we wrote reads back");
    assert_eq!(form.parts.len(), reread.parts.len(), "parts lost or invented");
    let plain = |s: &str| !s.contains("name");
    // Written as browsers write them (and a backslash too), so read back escaped.
    let escaped = |s: &str| s.replace('"', "%22").replace('\\', "%5C").replace('\r', "%0D").replace('\n', "%0A");
    for (sent, got) in form.parts.iter().zip(&reread.parts) {
        if sent.name == "model" {
            assert_eq!(got.data.as_ref(), b"m", "a model field that is not the routed model");
            continue;
        }
        assert_eq!(sent.data, got.data);
        assert_eq!(sent.content_type.is_some(), got.content_type.is_some());
        if plain(&sent.name) && sent.filename.as_deref().is_none_or(plain) {
            assert_eq!(escaped(&sent.name), got.name);
            assert_eq!(sent.filename.as_deref().map(escaped), got.filename);
        }
    }
});
