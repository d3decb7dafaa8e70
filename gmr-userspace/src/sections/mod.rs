//! Sections: one generator per report section; each returns a model or a failure note.
