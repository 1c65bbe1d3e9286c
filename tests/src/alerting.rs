//! The Slack side of alerting: a local stand-in for Slack's incoming webhooks (moto has no
//! Slack). A small HTTP/1.1 server on 127.0.0.1 (std threads, no framework): enough for hyper's
//! client, which is what the Slack sender uses.

use std::io::BufReader;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::http::{read_message, write_response};

/// How the stub answers the next posts.
#[derive(Debug, Clone)]
pub enum SlackBehaviour {
    /// `200 ok`, as Slack does.
    Ok,
    /// This status with a Slack-like error body.
    Status(u16),
    /// `429` with `Retry-After: <seconds>`.
    RateLimited(u64),
    /// Answer `200` after this delay.
    Slow(Duration),
}

/// A local stand-in for `https://hooks.slack.com/services/…` that records every POST body.
pub struct SlackStub {
    port: u16,
    behaviour: Arc<Mutex<SlackBehaviour>>,
    posts: Arc<Mutex<Vec<Value>>>,
}

impl SlackStub {
    pub fn start() -> SlackStub {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind slack stub");
        let port = listener.local_addr().unwrap().port();
        let behaviour = Arc::new(Mutex::new(SlackBehaviour::Ok));
        let posts = Arc::new(Mutex::new(Vec::new()));
        let (b, p) = (behaviour.clone(), posts.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (b, p) = (b.clone(), p.clone());
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().expect("clone stream");
                    let mut reader = BufReader::new(stream);
                    while let Ok(Some(req)) = read_message(&mut reader) {
                        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
                        p.lock().unwrap().push(body);
                        let behaviour = b.lock().unwrap().clone();
                        let result = match behaviour {
                            SlackBehaviour::Ok => write_response(&mut writer, 200, &[], b"ok"),
                            SlackBehaviour::Status(s) => {
                                write_response(&mut writer, s, &[], b"internal_error")
                            }
                            SlackBehaviour::RateLimited(after) => write_response(
                                &mut writer,
                                429,
                                &[("retry-after", after.to_string())],
                                b"rate_limited",
                            ),
                            SlackBehaviour::Slow(delay) => {
                                std::thread::sleep(delay);
                                write_response(&mut writer, 200, &[], b"ok")
                            }
                        };
                        if result.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        SlackStub {
            port,
            behaviour,
            posts,
        }
    }

    /// A webhook URL in Slack's shape, on this stub.
    pub fn webhook_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/services/T0PULLDOC/B0PULLDOC/s3cr3tW3bh00kT0k3n",
            self.port
        )
    }

    pub fn answer(&self, behaviour: SlackBehaviour) {
        *self.behaviour.lock().unwrap() = behaviour;
    }

    /// Every body posted so far (including the ones answered with an error).
    pub fn posts(&self) -> Vec<Value> {
        self.posts.lock().unwrap().clone()
    }
}
