//! The HTTP edge every route shares (`src/http`): CORS and input screening.
mod cors;
mod input;
