//! A Python virtual environment with a pinned requirements file installed, made once
//! under the target directory and made again only when the requirements change. Shared
//! by the nakama-python test here and the Python binding's test in `ffi/tests`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The interpreter of the environment at `venv`, ready with `requirements`, or why there
/// is none (no python3, no venv module, no PyPI).
pub fn python_env(requirements: &Path, venv: &Path) -> Result<PathBuf, String> {
    let wanted = fs::read_to_string(requirements).map_err(|e| format!("{}: {e}", requirements.display()))?;
    let python = venv.join(if cfg!(windows) { "Scripts/python.exe" } else { "bin/python" });
    // Written once the install succeeded: the requirements it holds.
    let stamp = venv.join("kaos-requirements.txt");
    if python.exists() && fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(python);
    }
    let _ = fs::remove_dir_all(venv);
    let made = Command::new("python3").args(["-m", "venv"]).arg(venv).status();
    if !made.as_ref().is_ok_and(|s| s.success()) {
        return Err(format!("python3 -m venv {} failed ({made:?})", venv.display()));
    }
    let installed = Command::new(&python)
        .args(["-m", "pip", "install", "--disable-pip-version-check", "--quiet", "-r"])
        .arg(requirements)
        .status();
    if !installed.as_ref().is_ok_and(|s| s.success()) {
        return Err(format!("pip install -r {} failed ({installed:?})", requirements.display()));
    }
    fs::write(&stamp, &wanted).map_err(|e| format!("{}: {e}", stamp.display()))?;
    Ok(python)
}
