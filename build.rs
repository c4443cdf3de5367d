//! Generates the SPANK bindings from Slurm's headers into OUT_DIR (and nowhere else).
//!
//! Which headers, first match wins:
//! 1. `SLURM_INCLUDE_DIR`: a site's own headers (the folder holding `slurm/spank.h`);
//! 2. `SLURM_HEADERS=<major.minor>`: a vendored set, `slurm-headers/<major.minor>/`;
//! 3. the headers installed on this host (`/usr/include/slurm`, Debian's libslurm-dev or
//!    RHEL's slurm-devel).
//!
//! With none of them the build stops and says how to choose: a plugin built for a release the
//! site does not run is refused by Slurm, so there is no silent default.
//!
//! Headers of a release other than the one installed on this host (its `slurmd -V`, `srun -V`…)
//! stop the build too, unless `OOM_EXPLAIN_OTHER_RELEASE=<major.minor>` names that release:
//! building for another release is then a choice, never an accident (a package builder, the
//! tests' builds for every vendored release).
//!
//! The plugin's `plugin_version` is the headers' `SLURM_VERSION_NUMBER`, and Slurm loads a
//! SPANK plugin only when its major.minor equals its own: the build says which release it is
//! for.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// SPANK items the plugin reads that a release might lack: each present one becomes
/// `cfg(spank_item = "…")`, and the code reads the item only then (otherwise it degrades).
const OPTIONAL_ITEMS: &[&str] = &["S_STEP_CPUS_PER_TASK", "S_STEP_ALLOC_MEM"];

const INSTALLED: &str = "/usr/include";

/// The variable that allows a build for a release other than the installed one.
const OTHER_RELEASE: &str = "OOM_EXPLAIN_OTHER_RELEASE";

fn main() {
    println!("cargo:rerun-if-env-changed=SLURM_INCLUDE_DIR");
    println!("cargo:rerun-if-env-changed=SLURM_HEADERS");
    println!("cargo:rerun-if-env-changed={OTHER_RELEASE}");
    // A path that does not exist would make cargo rerun this on every build.
    let installed_version_h = Path::new(INSTALLED).join("slurm/slurm_version.h");
    if installed_version_h.is_file() {
        println!("cargo:rerun-if-changed={}", installed_version_h.display());
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));

    let (include_dir, origin) = choose_headers(&manifest);
    let spank_h = include_dir.join("slurm").join("spank.h");
    if !spank_h.is_file() {
        fail(&format!(
            "no Slurm headers at {} (SLURM_INCLUDE_DIR is the folder that holds slurm/spank.h)",
            spank_h.display()
        ));
    }
    println!(
        "cargo:rerun-if-changed={}",
        include_dir.join("slurm").display()
    );

    let version_h = include_dir.join("slurm").join("slurm_version.h");
    let release = std::fs::read_to_string(&version_h)
        .ok()
        .and_then(|text| version_number(&text))
        .unwrap_or_else(|| {
            fail(&format!(
                "no SLURM_VERSION_NUMBER in {}",
                version_h.display()
            ))
        });
    let release_text = format!(
        "{}.{:02}.{}",
        release >> 16,
        (release >> 8) & 0xff,
        release & 0xff
    );
    println!(
        "cargo:warning=oom-explain: building for Slurm {release_text}, headers from {} ({origin})",
        include_dir.display()
    );
    refuse_if_not_installed(release);
    println!("cargo:rustc-env=OOM_EXPLAIN_SLURM_RELEASE={release_text}");
    println!("cargo:rustc-env=OOM_EXPLAIN_SLURM_HEADERS={origin}");

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
    let text = bindings.to_string();
    declare_items(&text);

    let out = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("spank_bindings.rs");
    std::fs::write(&out, text).expect("write bindings to OUT_DIR");
}

/// The include folder and a word on where it came from.
fn choose_headers(manifest: &Path) -> (PathBuf, String) {
    if let Some(dir) = env::var_os("SLURM_INCLUDE_DIR") {
        return (PathBuf::from(dir), "SLURM_INCLUDE_DIR".into());
    }
    if let Ok(release) = env::var("SLURM_HEADERS") {
        let dir = manifest.join("slurm-headers").join(&release);
        if release.contains('/') || !dir.join("slurm/spank.h").is_file() {
            fail(&format!(
                "SLURM_HEADERS={release}: no such vendored headers (have: {})",
                vendored(manifest).join(", ")
            ));
        }
        return (dir, format!("vendored {release}"));
    }
    if Path::new(INSTALLED).join("slurm/spank.h").is_file() {
        return (INSTALLED.into(), "installed on this host".into());
    }
    fail(&format!(
        "no Slurm headers on this host. Install your Slurm's development package \
         (libslurm-dev, slurm-devel), or choose: SLURM_HEADERS=<{}> for a vendored set, \
         SLURM_INCLUDE_DIR=<folder holding slurm/spank.h> for your own",
        vendored(manifest).join("|")
    ))
}

/// The vendored header sets: slurm-headers/<major.minor>/ (its README says where each came from).
fn vendored(manifest: &Path) -> Vec<String> {
    let mut releases: Vec<String> = std::fs::read_dir(manifest.join("slurm-headers"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.path().join("slurm/spank.h").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    releases.sort();
    releases
}

/// `#define SLURM_VERSION_NUMBER 0x180b05` → 0x180b05.
fn version_number(header: &str) -> Option<u32> {
    header.lines().find_map(|line| {
        let value = line
            .trim()
            .strip_prefix("#define SLURM_VERSION_NUMBER")?
            .trim();
        u32::from_str_radix(value.strip_prefix("0x")?, 16).ok()
    })
}

/// The Slurm release this host runs, from the first Slurm program that answers `-V`.
fn installed_release() -> Option<(String, u32, u32)> {
    ["slurmd", "srun", "sinfo", "slurmctld"]
        .iter()
        .find_map(|program| {
            let out = Command::new(program).arg("-V").output().ok()?;
            let text = String::from_utf8_lossy(&out.stdout);
            let version = text.split_whitespace().nth(1)?.to_owned();
            let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
            Some((version.clone(), parts.next()??, parts.next()??))
        })
}

/// Stops the build when the headers' release is not the one this host runs, unless
/// `OOM_EXPLAIN_OTHER_RELEASE` names the headers' release. A host without Slurm has nothing to
/// compare: the headers were chosen explicitly (`SLURM_HEADERS`, `SLURM_INCLUDE_DIR`).
fn refuse_if_not_installed(release: u32) {
    let wanted = format!("{}.{:02}", release >> 16, (release >> 8) & 0xff);
    let Some((version, m, n)) = installed_release() else {
        return;
    };
    if format!("{m}.{n:02}") == wanted {
        return;
    }
    match env::var(OTHER_RELEASE) {
        Ok(told) if told == wanted => println!(
            "cargo:warning=oom-explain: building for Slurm {wanted} though this host runs \
             {version} ({OTHER_RELEASE}={told}): install it only where Slurm {wanted} runs"
        ),
        told => fail(&format!(
            "these headers are Slurm {wanted}'s but this host runs Slurm {version}, which \
             would refuse the plugin (\"Incompatible Slurm plugin version\"). Build for this \
             host with no SLURM_HEADERS / SLURM_INCLUDE_DIR (its libslurm-dev or slurm-devel \
             headers), or, to build for Slurm {wanted} elsewhere, set {OTHER_RELEASE}={wanted}{}",
            match told {
                Ok(other) => format!(" (it is {other:?})"),
                Err(_) => String::new(),
            }
        )),
    }
}

/// `cfg(spank_item = "S_…")` for each optional item these headers define.
fn declare_items(bindings: &str) {
    let values: Vec<String> = OPTIONAL_ITEMS.iter().map(|i| format!("\"{i}\"")).collect();
    println!(
        "cargo:rustc-check-cfg=cfg(spank_item, values({}))",
        values.join(", ")
    );
    for item in OPTIONAL_ITEMS {
        if bindings.contains(&format!("const {item}: Type")) {
            println!("cargo:rustc-cfg=spank_item=\"{item}\"");
        } else {
            println!("cargo:warning=oom-explain: these headers have no {item}: not read");
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    panic!("{message}");
}
