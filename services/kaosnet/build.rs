//! Generates the protobuf types of the realtime protocol from `proto/nakama/*.proto`:
//! protox compiles the schema (no protoc needed), prost-build writes the types and
//! pbjson-build their JSON mapping as Nakama's gateway writes it (proto field names,
//! enums as numbers, unknown fields ignored).

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(["nakama/realtime.proto"], ["proto"]).expect("the schema compiles");
    let bytes = prost::Message::encode_to_vec(&descriptors);
    std::fs::write(out.join("nakama_descriptors.bin"), &bytes).expect("OUT_DIR is writable");
    prost_build::Config::new()
        .compile_well_known_types()
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(descriptors)
        .expect("prost generates the types");
    pbjson_build::Builder::new()
        .register_descriptors(&bytes)
        .expect("the descriptors load")
        .preserve_proto_field_names()
        .emit_fields()
        .use_integers_for_enums()
        .ignore_unknown_fields()
        .build(&[".nakama"])
        .expect("pbjson generates the JSON mapping");
}
