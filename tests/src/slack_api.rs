//! A local stand-in for the two Slack Web API methods the Slack app sink calls (moto has no
//! Slack): `POST /api/chat.postMessage` (a message, or a thread reply with `thread_ts`) and
//! `POST /api/chat.update`, with JSON bodies and the bot token as `Authorization: Bearer …`, as
//! Slack documents them. Like Slack, it answers a method's errors as HTTP 200 with
//! `{"ok": false, "error": "…"}`. It keeps every message, its edits and its thread replies, so a
//! test reads the channel's final state; answers can be switched to 429 with `Retry-After`, 5xx,
//! an `ok: false` error, or a connection dropped after the post was made.

use std::collections::{BTreeMap, VecDeque};
use std::io::BufReader;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::http::{read_message, write_response, Message};

/// The bot token the stub accepts.
pub const BOT_TOKEN: &str = "xoxb-0000000000-PULLDOC-s3cr3tB0tT0k3n";
/// The only channel that exists.
pub const CHANNEL: &str = "C0PULLDOC";

/// How the stub answers one call, instead of answering as Slack does.
#[derive(Debug, Clone, PartialEq)]
pub enum SlackApiAnswer {
    /// `429` with `Retry-After: <seconds>` and `{"ok": false, "error": "ratelimited"}`; the call is
    /// not processed.
    RateLimited(u64),
    /// This HTTP status (a 5xx from in front of the API); the call is not processed.
    Status(u16),
    /// `200 {"ok": false, "error": <code>}`; the call is not processed.
    Error(String),
    /// The call is processed (a post is made), then the connection closes without an answer: the
    /// sender cannot know the post happened.
    DropAfterProcessing,
}

/// One top-level message of the channel, as it stands now.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackMessage {
    pub channel: String,
    pub ts: String,
    pub text: String,
    pub blocks: Value,
    /// `chat.update` calls that changed it.
    pub edits: u32,
    /// Thread replies (`chat.postMessage` with this message's `ts` as `thread_ts`), oldest first.
    pub replies: Vec<SlackReply>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SlackReply {
    pub ts: String,
    pub text: String,
    pub blocks: Value,
}

/// One request as received (status = what the stub answered; 0 when it dropped the connection).
#[derive(Debug, Clone)]
pub struct SlackCall {
    pub method: String,
    pub authorization: Option<String>,
    pub body: Value,
    /// The raw request head and body, to check what went over the wire.
    pub raw: String,
    pub status: u16,
    pub error: Option<String>,
}

#[derive(Default)]
struct State {
    /// Switched answers, used one a call, first in first out.
    answers: VecDeque<SlackApiAnswer>,
    /// Top-level messages by ts.
    messages: BTreeMap<String, SlackMessage>,
    /// Replies by their parent's ts (a reply to an unknown parent is kept too: the test sees it).
    threads: BTreeMap<String, Vec<SlackReply>>,
    calls: Vec<SlackCall>,
    next_ts: u64,
}

/// Slack's Web API on 127.0.0.1 (`api_url()` is what replaces `https://slack.com/api`).
pub struct SlackApi {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl SlackApi {
    pub fn start() -> SlackApi {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind slack api stub");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            next_ts: 1,
            ..State::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || {
                    let mut writer = stream.try_clone().expect("clone stream");
                    let mut reader = BufReader::new(stream);
                    while let Ok(Some(req)) = read_message(&mut reader) {
                        let Some((status, headers, body)) = handle(&state, &req) else {
                            return;
                        };
                        if write_response(
                            &mut writer,
                            status,
                            &headers,
                            body.to_string().as_bytes(),
                        )
                        .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        SlackApi { port, state }
    }

    /// The Web API base URL on this stub (`…/api`; methods are `…/api/chat.update`).
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.port)
    }

    /// The secret the sink reads: `{"bot_token", "channel"}`.
    pub fn secret(token: &str, channel: &str) -> String {
        json!({"bot_token": token, "channel": channel}).to_string()
    }

    /// Answer the next calls these ways, one each, then as Slack does again.
    pub fn answer_next(&self, answers: impl IntoIterator<Item = SlackApiAnswer>) {
        self.state.lock().unwrap().answers.extend(answers);
    }

    /// Top-level messages, oldest first.
    pub fn messages(&self) -> Vec<SlackMessage> {
        let state = self.state.lock().unwrap();
        let mut out: Vec<SlackMessage> = state.messages.values().cloned().collect();
        out.sort_by_key(|m| ts_order(&m.ts));
        for m in &mut out {
            m.replies = state.threads.get(&m.ts).cloned().unwrap_or_default();
        }
        out
    }

    /// Every call received, in order.
    pub fn calls(&self) -> Vec<SlackCall> {
        self.state.lock().unwrap().calls.clone()
    }

    /// Replies whose `thread_ts` names no message.
    pub fn orphan_replies(&self) -> usize {
        let state = self.state.lock().unwrap();
        state
            .threads
            .iter()
            .filter(|(ts, _)| !state.messages.contains_key(*ts))
            .map(|(_, r)| r.len())
            .sum()
    }
}

fn ts_order(ts: &str) -> u64 {
    ts.rsplit('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn ok_false(error: &str) -> Value {
    json!({"ok": false, "error": error})
}

/// An HTTP answer: status, headers, JSON body.
type Answer = (u16, Vec<(&'static str, String)>, Value);

/// Answers one request: `None` drops the connection.
fn handle(state: &Mutex<State>, req: &Message) -> Option<Answer> {
    let mut state = state.lock().unwrap();
    let method = req
        .path()
        .trim_start_matches("/api/")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    let authorization = req.header("authorization").map(str::to_string);
    // Slack reads JSON arguments only from an application/json body.
    let json_body = req
        .header("content-type")
        .is_some_and(|c| c.starts_with("application/json"));
    let body: Value = if json_body {
        serde_json::from_slice(&req.body).unwrap_or(Value::Null)
    } else {
        Value::Null
    };
    let mut call = SlackCall {
        method: method.clone(),
        authorization: authorization.clone(),
        body: body.clone(),
        raw: format!(
            "{}\n\n{}",
            req.head.join("\n"),
            String::from_utf8_lossy(&req.body)
        ),
        status: 200,
        error: None,
    };
    let switched = state.answers.pop_front();
    let (status, headers, answer) = match switched {
        Some(SlackApiAnswer::RateLimited(after)) => (
            429,
            vec![("retry-after", after.to_string())],
            ok_false("ratelimited"),
        ),
        Some(SlackApiAnswer::Status(status)) => (status, vec![], ok_false("service_unavailable")),
        Some(SlackApiAnswer::Error(code)) => (200, vec![], ok_false(&code)),
        Some(SlackApiAnswer::DropAfterProcessing) | None => {
            let answer = if req.method() != "POST" {
                ok_false("invalid_request")
            } else {
                match authorization
                    .as_deref()
                    .and_then(|a| a.strip_prefix("Bearer "))
                {
                    None => ok_false("not_authed"),
                    Some(token) if token != BOT_TOKEN => ok_false("invalid_auth"),
                    Some(_) => match method.as_str() {
                        "chat.postMessage" => post_message(&mut state, &body),
                        "chat.update" => update(&mut state, &body),
                        _ => ok_false("unknown_method"),
                    },
                }
            };
            if switched.is_some() {
                call.status = 0;
                state.calls.push(call);
                return None;
            }
            let status = if answer["error"] == "unknown_method" {
                404
            } else {
                200
            };
            (status, vec![], answer)
        }
    };
    call.status = status;
    call.error = answer["error"].as_str().map(str::to_string);
    state.calls.push(call);
    Some((status, headers, answer))
}

fn post_message(state: &mut State, body: &Value) -> Value {
    let channel = body["channel"].as_str().unwrap_or_default();
    if channel != CHANNEL {
        return ok_false("channel_not_found");
    }
    let text = body["text"].as_str().unwrap_or_default().to_string();
    let blocks = body.get("blocks").cloned().unwrap_or(json!([]));
    if text.is_empty() && blocks.as_array().is_none_or(Vec::is_empty) {
        return ok_false("no_text");
    }
    let ts = format!("1700000000.{:06}", state.next_ts);
    state.next_ts += 1;
    let mut message =
        json!({"type": "message", "bot_id": "B0PULLDOC", "text": text, "ts": ts, "blocks": blocks});
    match body["thread_ts"].as_str() {
        Some(parent) => {
            message["thread_ts"] = json!(parent);
            state
                .threads
                .entry(parent.to_string())
                .or_default()
                .push(SlackReply {
                    ts: ts.clone(),
                    text,
                    blocks,
                });
        }
        None => {
            let m = SlackMessage {
                channel: channel.into(),
                ts: ts.clone(),
                text,
                blocks,
                edits: 0,
                replies: vec![],
            };
            state.messages.insert(ts.clone(), m);
        }
    }
    json!({"ok": true, "channel": channel, "ts": ts, "message": message})
}

fn update(state: &mut State, body: &Value) -> Value {
    let channel = body["channel"].as_str().unwrap_or_default();
    if channel != CHANNEL {
        return ok_false("channel_not_found");
    }
    let Some(m) = body["ts"]
        .as_str()
        .and_then(|ts| state.messages.get_mut(ts))
    else {
        return ok_false("message_not_found");
    };
    // Slack keeps the previous blocks when an update has none.
    if let Some(blocks) = body.get("blocks") {
        m.blocks = blocks.clone();
    }
    if let Some(text) = body["text"].as_str() {
        m.text = text.to_string();
    }
    m.edits += 1;
    json!({"ok": true, "channel": m.channel, "ts": m.ts, "text": m.text})
}
