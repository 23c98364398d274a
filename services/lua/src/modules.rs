//! The module directory read into memory: every state of one generation runs the same
//! text, whatever happens to the files after they were read.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use crate::LuaError;

/// Largest module file read.
const MAX_FILE: u64 = 8 << 20;
/// Deepest directory nesting read.
const MAX_DEPTH: usize = 16;

/// A module's text and the file it came from (relative to the directory).
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) file: String,
    pub(crate) text: String,
}

/// One reading of the module directory.
#[derive(Debug, Clone, Default)]
pub(crate) struct Modules {
    pub(crate) generation: u64,
    /// By module name: `a/b.lua` is `a.b`.
    pub(crate) sources: Arc<HashMap<String, Source>>,
    /// The names in load order (sorted, as the files are).
    order: Arc<Vec<String>>,
}

impl Modules {
    /// Reads every `.lua` file under `dir`; a directory that does not exist holds none.
    pub(crate) fn read(dir: &Path, generation: u64) -> Result<Modules, LuaError> {
        let mut sources = HashMap::new();
        if dir.exists() {
            if !dir.is_dir() {
                return Err(LuaError::Path(format!("{} is not a directory", dir.display())));
            }
            walk(dir, dir, 0, &mut sources)?;
        }
        let mut order: Vec<String> = sources.keys().cloned().collect();
        order.sort();
        Ok(Modules { generation, sources: Arc::new(sources), order: Arc::new(order) })
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }
}

fn walk(root: &Path, dir: &Path, depth: usize, out: &mut HashMap<String, Source>) -> Result<(), LuaError> {
    if depth > MAX_DEPTH {
        return Err(LuaError::Path(format!("{} nests deeper than {MAX_DEPTH} directories", dir.display())));
    }
    let unreadable = |p: &Path, e: std::io::Error| LuaError::Path(format!("cannot read {}: {e}", p.display()));
    for entry in std::fs::read_dir(dir).map_err(|e| unreadable(dir, e))? {
        let path = entry.map_err(|e| unreadable(dir, e))?.path();
        if path.is_dir() {
            walk(root, &path, depth + 1, out)?;
            continue;
        }
        if path.extension().and_then(|e| e.to_str()) != Some("lua") {
            continue;
        }
        let size = std::fs::metadata(&path).map_err(|e| unreadable(&path, e))?.len();
        if size > MAX_FILE {
            return Err(LuaError::Path(format!("{} is larger than {} MiB", path.display(), MAX_FILE >> 20)));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| unreadable(&path, e))?;
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let file = relative.to_string_lossy().replace('\\', "/");
        let name = file.trim_end_matches(".lua").replace('/', ".");
        out.insert(name, Source { file, text });
    }
    Ok(())
}

#[cfg(feature = "fuzzing")]
impl Modules {
    /// One module from text, as if read from `<name>.lua`.
    pub(crate) fn from_text(name: &str, text: &str) -> Modules {
        let source = Source { file: format!("{name}.lua"), text: text.to_string() };
        Modules {
            generation: 1,
            sources: Arc::new(HashMap::from([(name.to_string(), source)])),
            order: Arc::new(vec![name.to_string()]),
        }
    }
}
