// The console UI is embedded from services/console-ui/dist: build again when it changes.
fn main() {
    println!("cargo:rerun-if-changed=../console-ui/dist");
}
