//! Command-line interface (AIPerf's flag names). TODO
