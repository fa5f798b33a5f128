//! Outgoing email through lettre: SMTP when `smtp_url` is set, otherwise one `.eml`
//! file per message under `{data_dir}/outbox/`.
use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
};
use std::path::PathBuf;

#[derive(Clone)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

#[derive(Clone)]
pub struct MailService {
    transport: Mailer,
    from: Mailbox,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
}

impl MailService {
    pub fn new(smtp_url: Option<&str>, outbox: PathBuf, from: &str) -> anyhow::Result<Self> {
        let transport = match smtp_url {
            Some(url) => Mailer::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| anyhow::anyhow!("GATEHOUSE_SMTP_URL is not usable: {e}"))?
                    .timeout(Some(std::time::Duration::from_secs(15)))
                    .build(),
            ),
            None => {
                // Messages hold live links (password reset, invitations): owner only,
                // also for an outbox an earlier version created world-readable.
                crate::db::private_dir(&outbox)?;
                #[cfg(unix)]
                std::fs::set_permissions(
                    &outbox,
                    std::os::unix::fs::PermissionsExt::from_mode(0o700),
                )?;
                Mailer::File(AsyncFileTransport::<Tokio1Executor>::new(outbox))
            }
        };
        let from = from
            .parse()
            .map_err(|e| anyhow::anyhow!("mail_from {from:?}: {e}"))?;
        Ok(Self { transport, from })
    }

    pub async fn send(&self, email: Email) -> anyhow::Result<()> {
        let msg = Message::builder()
            .from(self.from.clone())
            .to(email.to.parse()?)
            .subject(email.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(email.body)?;
        match &self.transport {
            Mailer::Smtp(t) => {
                t.send(msg).await?;
            }
            Mailer::File(t) => {
                t.send(msg).await?;
            }
        }
        Ok(())
    }
}
