//! Generates the SPANK bindings from Slurm's headers into OUT_DIR (and nowhere else).
//!
//! Headers come from `slurm-headers/<release>/` (vendored, default release 22.05) or, when
//! `SLURM_INCLUDE_DIR` is set, from a site's installed headers. The plugin's `plugin_version`
//! is the headers' `SLURM_VERSION_NUMBER`, so building against the right headers is what makes
//! Slurm accept the plugin.

use std::env;
use std::path::PathBuf;

const DEFAULT_RELEASE: &str = "22.05";

fn main() {
    println!("cargo:rerun-if-env-changed=SLURM_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=SLURM_HEADERS");

    let include_dir = match env::var_os("SLURM_INCLUDE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let release = env::var("SLURM_HEADERS").unwrap_or_else(|_| DEFAULT_RELEASE.into());
            PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"))
                .join("slurm-headers")
                .join(release)
        }
    };
    let spank_h = include_dir.join("slurm").join("spank.h");
    if !spank_h.is_file() {
        panic!(
            "no Slurm headers at {} (set SLURM_INCLUDE_DIR to the folder holding slurm/spank.h)",
            spank_h.display()
        );
    }
    println!("cargo:rerun-if-changed={}", include_dir.display());

    let bindings = bindgen::Builder::default()
        .header(spank_h.to_string_lossy())
        .clang_arg(format!("-I{}", include_dir.display()))
        .allowlist_function("spank_.*")
        .allowlist_function("slurm_spank_log")
        .allowlist_function("slurm_error")
        .allowlist_function("slurm_info")
        .allowlist_function("slurm_verbose")
        .allowlist_type("spank_.*")
        .allowlist_var("SLURM_VERSION_NUMBER")
        .allowlist_var("ESPANK_.*")
        .constified_enum_module("spank_context")
        .constified_enum_module("spank_item")
        .newtype_enum("slurm_err")
        .layout_tests(true)
        .generate_comments(false)
        .generate()
        .expect("bindgen could not translate spank.h (is libclang installed?)");

    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("spank_bindings.rs");
    bindings
        .write_to_file(&out)
        .expect("write bindings to OUT_DIR");
}
