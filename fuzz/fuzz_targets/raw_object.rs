//! The client body reader: any bytes give an object or an error, in linear time, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use uni_api_core::adapters::raw::RawObject;

fuzz_target!(|data: &[u8]| {
    if let Ok(object) = RawObject::parse(data) {
        // Reading fields back works for whatever was accepted.
        let _: Option<serde_json::Value> = object.field("model");
        let _: Option<serde_json::Value> = object.field("messages");
        let _ = object.to_vec();
    }
});
