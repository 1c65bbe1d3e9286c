//! A local stand-in for a Microsoft Teams Workflows webhook ("Post to a channel when a webhook
//! request is received"): 202 with an empty body for a message with an Adaptive Card
//! attachment (the workflow accepted it; it would post the card later), 400 for any other
//! body, and on demand 429 with `Retry-After` or another status. It records every request and
//! the cards it accepted.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::http::{Message, Reply, Server};

/// How the stub answers.
#[derive(Debug, Clone, PartialEq)]
pub enum TeamsBehaviour {
    /// Validate, then 202 or 400.
    Accept,
    /// 429 with `Retry-After: <seconds>`.
    RateLimited(u64),
    /// This status with a Power Automate-like error body.
    Status(u16),
}

#[derive(Default)]
struct State {
    standing: Option<TeamsBehaviour>,
    next: VecDeque<TeamsBehaviour>,
    requests: Vec<Value>,
    cards: Vec<Value>,
}

pub struct TeamsStub {
    server: Server,
    state: Arc<Mutex<State>>,
}

impl TeamsStub {
    pub fn start() -> TeamsStub {
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        let server = Server::start(move |request| answer(&s, request));
        TeamsStub { server, state }
    }

    /// A webhook URL in the shape Workflows hands out (its `sig` is the credential), on this stub.
    pub fn webhook_url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/workflows/0f1e2d3c/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=s3cr3tW0rkfl0wS1g",
            self.server.port()
        )
    }

    /// Answer every request like this from now on.
    pub fn answer(&self, behaviour: TeamsBehaviour) {
        self.state.lock().unwrap().standing = Some(behaviour);
    }

    /// Answer the next `times` requests like this, then as before.
    pub fn answer_next(&self, behaviour: TeamsBehaviour, times: usize) {
        self.state
            .lock()
            .unwrap()
            .next
            .extend(std::iter::repeat_n(behaviour, times));
    }

    /// Every request body received, answered or not.
    pub fn requests(&self) -> Vec<Value> {
        self.state.lock().unwrap().requests.clone()
    }

    /// The Adaptive Cards of the messages accepted (202), in order.
    pub fn cards(&self) -> Vec<Value> {
        self.state.lock().unwrap().cards.clone()
    }
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

fn answer(state: &Mutex<State>, request: &Message) -> Reply {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    let behaviour = {
        let mut s = state.lock().unwrap();
        s.requests.push(body.clone());
        let standing = s.standing.clone().unwrap_or(TeamsBehaviour::Accept);
        s.next.pop_front().unwrap_or(standing)
    };
    match behaviour {
        TeamsBehaviour::RateLimited(after) => {
            return error(
                429,
                "WorkflowTriggeredTooFrequently",
                "Rate limit is exceeded. Try again later.",
            )
            .header("retry-after", after.to_string())
        }
        TeamsBehaviour::Status(status) => {
            return error(
                status,
                "InternalServerError",
                "The server encountered an internal error.",
            )
        }
        TeamsBehaviour::Accept => {}
    }
    if request.method() != "POST"
        || !request.path().starts_with("/workflows/")
        || !request.path().contains("sig=")
    {
        return error(
            401,
            "DirectApiAuthorizationRequired",
            "The request must be authenticated.",
        );
    }
    match cards(&body) {
        Ok(cards) => {
            state.lock().unwrap().cards.extend(cards);
            Reply::new(202, Vec::new())
        }
        Err(why) => error(400, "InvalidRequestContent", &why),
    }
}

/// The Adaptive Cards of a webhook message, or why it is not one.
fn cards(body: &Value) -> Result<Vec<Value>, String> {
    if body["type"] != "message" {
        return Err("The request body must be a message (\"type\": \"message\").".into());
    }
    let attachments = body["attachments"]
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("The message has no attachments.")?;
    attachments
        .iter()
        .map(|a| {
            if a["contentType"] != "application/vnd.microsoft.card.adaptive" {
                return Err(
                    "Attachments must be Adaptive Cards (application/vnd.microsoft.card.adaptive)."
                        .to_string(),
                );
            }
            let card = &a["content"];
            if card["type"] != "AdaptiveCard"
                || !card["version"].is_string()
                || !card["body"].is_array()
            {
                return Err(
                    "The attachment's content is not an Adaptive Card (type, version, body)."
                        .to_string(),
                );
            }
            Ok(card.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_messages_with_adaptive_cards_are_accepted() {
        let card = json!({"type": "AdaptiveCard", "version": "1.4", "body": []});
        let good = json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]});
        assert_eq!(cards(&good).unwrap(), vec![card.clone()]);
        let table = [
            json!({"text": "hello"}),
            json!({"type": "message", "attachments": []}),
            json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.teams.card.o365connector", "content": card}]}),
            json!({"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": {"type": "AdaptiveCard"}}]}),
        ];
        for body in table {
            assert!(cards(&body).is_err(), "{body}");
        }
    }
}
