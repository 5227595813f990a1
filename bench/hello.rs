//! The HTTP ceiling of `bench/run.sh`: a bare actix-web hello world, built from the same
//! actix-web as the service (`cargo build --release --example hello`), one worker like the
//! service in the benchmark. `GET /healthz` of the service is compared with `GET /` here, in the
//! same run: what the service adds per request (middleware, logging, metrics) is the difference.
//!
//! `HELLO_BIND` (127.0.0.1:18091), `HELLO_WORKERS` (1).

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let bind = std::env::var("HELLO_BIND").unwrap_or_else(|_| "127.0.0.1:18091".to_owned());
    let workers = std::env::var("HELLO_WORKERS")
        .ok()
        .and_then(|workers| workers.parse().ok())
        .unwrap_or(1);
    HttpServer::new(|| {
        App::new().route(
            "/",
            web::get().to(|| async {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(r#"{"status":"ok"}"#)
            }),
        )
    })
    .workers(workers)
    .bind(bind)?
    .run()
    .await
}
