//! Arbitrary text as a Lua module (and an RPC payload): loaded into a sandboxed state
//! with a small budget and memory limit, its RPCs called. Whatever the script, kaos-lua
//! returns an error or a value: never a panic, a hang past the budget, or memory past
//! the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (module, payload) = text.split_once('\0').unwrap_or((&text, "{}"));
    kaos_lua::fuzzing::run_module(module, payload);
});
