//! Gives the shared library its soname (`libqmgr.so.0`). Never writes into the source tree.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libqmgr.so.0");
}
