//! A webhook receiver in the test process, on 127.0.0.1: it records every request (headers and
//! body) and answers as scripted (a status per request, then a default; or a redirect).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HashMap<String, String>,
    pub body: String,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Script {
    /// Statuses for the next requests, in order.
    next: VecDeque<u16>,
    /// The status once `next` is used up (200 when unset).
    default: Option<u16>,
    /// Answer 307 to this location instead.
    redirect: Option<String>,
    /// Wait this long before answering.
    delay: Option<Duration>,
}

struct Shared {
    requests: Mutex<Vec<Received>>,
    script: Mutex<Script>,
}

pub struct Receiver {
    pub port: u16,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

async fn hook(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let headers = req
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    shared.requests.lock().unwrap().push(Received {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        at: Instant::now(),
    });
    let (status, redirect, delay) = {
        let mut script = shared.script.lock().unwrap();
        let status = script.next.pop_front().or(script.default).unwrap_or(200);
        (status, script.redirect.clone(), script.delay)
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(location) = redirect {
        return HttpResponse::TemporaryRedirect()
            .insert_header(("Location", location))
            .finish();
    }
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .body("receiver's own words, never shown to the subscriber")
}

impl Receiver {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            script: Mutex::new(Script::default()),
        });
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(hook))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            port,
            shared,
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }

    /// The next requests get these statuses, in order.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.shared
            .script
            .lock()
            .unwrap()
            .next
            .extend(statuses.iter().copied());
    }

    /// Every request after the scripted ones gets `status`.
    pub fn answer_always(&self, status: u16) {
        self.shared.script.lock().unwrap().default = Some(status);
    }

    pub fn redirect_to(&self, location: &str) {
        self.shared.script.lock().unwrap().redirect = Some(location.to_owned());
    }

    pub fn delay(&self, delay: Duration) {
        self.shared.script.lock().unwrap().delay = Some(delay);
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}
