//! The SMTP server every test app sends to, and the inbox a test reads.
use super::TestApp;
use std::{
    net::TcpListener,
    sync::{Arc, Mutex},
    time::Duration,
};

/// A message as the SMTP server received it.
#[derive(Clone, Debug)]
pub struct Mail {
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// The first link in the message that contains `needle`.
    pub fn link(&self, needle: &str) -> String {
        let re = regex::Regex::new(r"https?://[^\s]+").unwrap();
        let body = self.data.replace("=\r\n", "").replace("=3D", "=");
        re.find_iter(&body)
            .map(|m| m.as_str().to_string())
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no link with {needle} in {}", self.data))
    }
    /// The `token` query parameter of the first link containing `needle`.
    pub fn token(&self, needle: &str) -> String {
        let link = self.link(needle);
        link.split("token=")
            .nth(1)
            .expect("token in link")
            .to_string()
    }
}

#[derive(Clone, Default)]
struct Sink {
    inbox: Arc<Mutex<Vec<Mail>>>,
    to: Vec<String>,
    buf: Vec<u8>,
}

impl mailin_embedded::Handler for Sink {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin_embedded::Response {
        self.to = to.to_vec();
        self.buf.clear();
        mailin_embedded::response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> mailin_embedded::Response {
        let mail = Mail {
            to: std::mem::take(&mut self.to),
            data: String::from_utf8_lossy(&self.buf).into_owned(),
        };
        self.inbox.lock().unwrap().push(mail);
        mailin_embedded::response::OK
    }
}

pub(super) type Inbox = Arc<Mutex<Vec<Mail>>>;

pub(super) fn start_smtp() -> (u16, Inbox) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let sink = Sink::default();
    let inbox = sink.inbox.clone();
    let mut server = mailin_embedded::Server::new(sink);
    server
        .with_name("test-smtp")
        .with_num_threads(2)
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (port, inbox)
}

impl TestApp {
    /// Waits for a message to `to` whose text contains `needle` (mail is sent after the
    /// response, so it may trail it by a moment).
    pub async fn wait_for_mail(&self, to: &str, needle: &str) -> Mail {
        for _ in 0..200 {
            if let Some(m) = self
                .inbox
                .lock()
                .unwrap()
                .iter()
                .rev()
                .find(|m| m.to.iter().any(|t| t == to) && m.data.contains(needle))
            {
                return m.clone();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "no mail to {to} containing {needle:?}; inbox: {:?}",
            self.inbox.lock().unwrap()
        );
    }

    pub fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.inbox
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .cloned()
            .collect()
    }

    pub fn mail_count(&self, to: &str) -> usize {
        self.inbox
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.to.iter().any(|t| t == to))
            .count()
    }
}
