//! Symbolize: turns addresses into function, module, file and line.
