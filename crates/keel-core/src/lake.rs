//! The lake layout: where each zone keeps its data (DESIGN.md §4).

use std::path::{Path, PathBuf};

/// The root of a lake on local disk and the paths of its zones.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
}

impl Lake {
    /// A lake rooted at `root` (not created until something is written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Lake { root: root.into() }
    }

    /// The lake root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Staging area where collectors write a batch before the persistent loader takes it.
    pub fn temporal(&self, source: &str) -> PathBuf {
        self.root.join("landing").join("temporal").join(source)
    }

    /// Immutable, content-addressed landing objects of a source.
    pub fn persistent(&self, source: &str) -> PathBuf {
        self.root.join("landing").join("persistent").join(source)
    }

    /// The Delta table of a formatted table.
    pub fn formatted(&self, table: &str) -> PathBuf {
        self.root.join("formatted").join(table)
    }

    /// The quarantine Delta table of a formatted table.
    pub fn quarantine(&self, table: &str) -> PathBuf {
        self.root.join("formatted").join("_quarantine").join(table)
    }

    /// The Delta table of the physical-validity flags on a formatted table's rows.
    pub fn flags(&self, table: &str) -> PathBuf {
        self.root.join("formatted").join("_flags").join(table)
    }

    /// The Delta table of an exploitation model.
    pub fn exploitation(&self, model: &str) -> PathBuf {
        self.root.join("exploitation").join(model)
    }

    /// The Delta table of the rows that failed a model's checks, run after run.
    pub fn check_failures(&self, model: &str) -> PathBuf {
        self.root.join("exploitation").join("_checks").join(model)
    }

    /// Scratch space where a model's build stages its result before committing it.
    pub fn model_staging(&self, model: &str) -> PathBuf {
        self.root.join("_staging").join("_models").join(model)
    }

    /// Scratch space where formatting stages a source's chunk before committing it (Arrow
    /// IPC files; emptied when the source is formatted next).
    pub fn staging(&self, source: &str) -> PathBuf {
        self.root.join("_staging").join(source)
    }

    /// The SQLite catalog file.
    pub fn catalog_db(&self) -> PathBuf {
        self.root.join("_catalog").join("keel.db")
    }

    /// The lock file that keeps one run at a time per project.
    pub fn run_lock(&self) -> PathBuf {
        self.root.join("_catalog").join("run.lock")
    }
}
