//! Metric definitions and statistics. TODO
