//! The SMTP client of `[smtp]`, shared by email alert routes
//! ([`super::alerts`]) and subscribers ([`super::subscribers`]): lettre's
//! pooled async transport (connections reused across mails), STARTTLS or
//! implicit TLS with rustls.

use crate::config::alerts::{SmtpConfig, SmtpTls};

use super::alerts::Sent;

/// Connections kept to the mail server, at most: one per mail in flight
/// (`engine::subscribers` sends up to this many at once). lettre writes a
/// message's closing dot on its own, so with Nagle's algorithm on the
/// client and delayed acknowledgements on the server each mail waits
/// about 40 ms on its connection (measured: 8 connections carried 150
/// mails a second, not the 100 asked plus headroom); parallel connections
/// make up for it.
pub const CONNECTIONS: u32 = 16;

pub type Transport = lettre::AsyncSmtpTransport<lettre::Tokio1Executor>;

/// The SMTP client of `[smtp]`, with its sender.
pub struct Mailer {
    pub transport: Transport,
    pub from: lettre::message::Mailbox,
}

impl Mailer {
    /// `None` (logged) when the settings cannot make a client; start-up
    /// checked them, so that is a bad host name.
    pub fn new(smtp: &SmtpConfig) -> Option<Self> {
        let builder = match smtp.tls {
            SmtpTls::None => Ok(Transport::builder_dangerous(&smtp.host)),
            SmtpTls::Starttls => Transport::starttls_relay(&smtp.host),
            SmtpTls::Implicit => Transport::relay(&smtp.host),
        };
        let from = smtp.from.parse();
        match (builder, from) {
            (Ok(builder), Ok(from)) => {
                let mut builder = builder
                    .port(smtp.port())
                    .timeout(Some(smtp.timeout))
                    .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(CONNECTIONS));
                if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
                    builder = builder.credentials(
                        lettre::transport::smtp::authentication::Credentials::new(
                            user.clone(),
                            password.0.clone(),
                        ),
                    );
                }
                Some(Self {
                    transport: builder.build(),
                    from,
                })
            }
            (Err(err), _) => {
                tracing::error!(error = %err, "smtp: cannot set up the client; email alerts will fail");
                None
            }
            (_, Err(err)) => {
                tracing::error!(error = %err, "smtp.from: not a mailbox; email alerts will fail");
                None
            }
        }
    }
}

impl Mailer {
    /// Hands `message` to the server: a 5xx answer is permanent (the
    /// address or the message is refused), anything else may pass later.
    pub async fn send(&self, message: lettre::Message) -> Sent {
        use lettre::AsyncTransport;
        match self.transport.send(message).await {
            Ok(response) => Sent {
                status: Some(u16::from(response.code())),
                error: None,
                retry_after: None,
                permanent: false,
            },
            Err(err) => Sent {
                status: err.status().map(u16::from),
                permanent: err.is_permanent(),
                error: Some(format!("smtp: {err}")),
                retry_after: None,
            },
        }
    }
}
