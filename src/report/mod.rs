//! Console table and export files. TODO
