#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| spotlight_states::fuzz::intrinsic(data));
