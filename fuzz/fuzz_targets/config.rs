//! The config parser: any text gives a config or a ConfigError, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use uni_api_core::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let env = |name: &str| (name == "SET").then(|| "value".to_owned());
    if let Ok(config) = Config::from_yaml_str(text, &env) {
        let _ = config.implicit_admin_notice();
    }
});
