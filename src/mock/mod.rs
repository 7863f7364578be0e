//! The built-in OpenAI-compatible mock server (`audioperf mock-server`).
