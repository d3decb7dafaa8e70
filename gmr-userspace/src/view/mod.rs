//! Views: render a report model as text or JSON, with no I/O.
