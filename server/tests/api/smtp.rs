//! A real SMTP server for the tests: it speaks enough of RFC 5321 for a
//! client (greeting, EHLO, MAIL, RCPT, DATA with dot-unstuffing, RSET,
//! NOOP, QUIT) and keeps every message it accepts, so a test reads what
//! arrived over the protocol.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One accepted message.
#[derive(Clone, Debug)]
pub struct Delivered {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent (headers and body, CRLF line ends).
    pub data: String,
}

impl Delivered {
    /// The plain-text part, decoded.
    pub fn text(&self) -> String {
        let message = mail_parser::MessageParser::default()
            .parse(self.data.as_bytes())
            .expect("a MIME message");
        message.body_text(0).expect("a text part").into_owned()
    }

    /// The HTML part, decoded.
    pub fn html(&self) -> String {
        let message = mail_parser::MessageParser::default()
            .parse(self.data.as_bytes())
            .expect("a MIME message");
        message.body_html(0).expect("an HTML part").into_owned()
    }

    /// A header's value (unfolded), the first of that name.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = &mut value {
                if line.starts_with(' ') || line.starts_with('\t') {
                    v.push(' ');
                    v.push_str(line.trim());
                    continue;
                }
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case(name) {
                    value = Some(v.trim().to_owned());
                }
            }
        }
        value
    }
}

pub struct SmtpServer {
    pub addr: SocketAddr,
    mail: Arc<Mutex<Vec<Delivered>>>,
    rules: Arc<Mutex<Rules>>,
}

/// How the server answers `RCPT`: some addresses refused for good (550),
/// the next few refused for now (451).
#[derive(Debug, Default)]
struct Rules {
    refused: Vec<String>,
    deferrals: u32,
    /// `RCPT`s answered so far (refused or not).
    recipients: u32,
}

impl SmtpServer {
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// On `port` (0: any), e.g. where a client already tries to connect.
    pub async fn start_on(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mail: Arc<Mutex<Vec<Delivered>>> = Arc::default();
        let rules: Arc<Mutex<Rules>> = Arc::default();
        let store = Arc::clone(&mail);
        let shared_rules = Arc::clone(&rules);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let store = Arc::clone(&store);
                let rules = Arc::clone(&shared_rules);
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read);
                    let _ = write.write_all(b"220 test.invalid ESMTP ready\r\n").await;
                    let mut from = String::new();
                    let mut to = Vec::new();
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let command = line.trim_end().to_owned();
                        let verb = command
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" => b"250-test.invalid\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n",
                            "HELO" | "NOOP" => b"250 OK\r\n",
                            "RSET" => {
                                from.clear();
                                to.clear();
                                b"250 OK\r\n"
                            }
                            "MAIL" => {
                                from = address(&command);
                                b"250 OK\r\n"
                            }
                            "RCPT" => {
                                let rcpt = address(&command);
                                let mut rules = rules.lock().unwrap();
                                rules.recipients += 1;
                                if rules.refused.contains(&rcpt) {
                                    b"550 5.1.1 No such user here\r\n"
                                } else if rules.deferrals > 0 {
                                    rules.deferrals -= 1;
                                    b"451 4.3.0 Try again later\r\n"
                                } else {
                                    to.push(rcpt);
                                    b"250 OK\r\n"
                                }
                            }
                            "DATA" => {
                                let _ = write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await;
                                let mut data = String::new();
                                loop {
                                    line.clear();
                                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                        return;
                                    }
                                    if line == ".\r\n" {
                                        break;
                                    }
                                    // Dot-unstuffing.
                                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                                }
                                store.lock().unwrap().push(Delivered {
                                    from: std::mem::take(&mut from),
                                    to: std::mem::take(&mut to),
                                    data,
                                });
                                b"250 OK queued\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 Bye\r\n").await;
                                return;
                            }
                            _ => b"502 Command not implemented\r\n",
                        };
                        if write.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, mail, rules }
    }

    /// Refuses `address` for good from now on.
    pub fn refuse(&self, address: &str) {
        self.rules.lock().unwrap().refused.push(address.to_owned());
    }

    /// Refuses the next `n` recipients for now.
    pub fn defer(&self, n: u32) {
        self.rules.lock().unwrap().deferrals = n;
    }

    /// `RCPT` commands answered so far.
    pub fn recipients_seen(&self) -> u32 {
        self.rules.lock().unwrap().recipients
    }

    pub fn received(&self) -> Vec<Delivered> {
        self.mail.lock().unwrap().clone()
    }

    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Delivered> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {n} mails arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `MAIL FROM:<a@b> SIZE=1` → `a@b`.
fn address(command: &str) -> String {
    let start = command.find('<').map_or(0, |i| i + 1);
    let end = command[start..]
        .find('>')
        .map_or(command.len(), |i| start + i);
    command[start..end].to_owned()
}
