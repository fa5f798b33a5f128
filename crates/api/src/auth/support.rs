//! The operator of the support CLI (`gatehouse admin …`). Whoever can run the binary
//! with the server's configuration and master key can already read and write the
//! database; support operations take this value instead of a member's role, so they
//! cannot be reached from a request handler by accident.
#[derive(Debug)]
pub struct Support(());

impl Support {
    /// Only `cli.rs` calls this, for a command typed by an operator.
    pub fn cli_operator() -> Self {
        Support(())
    }
}
